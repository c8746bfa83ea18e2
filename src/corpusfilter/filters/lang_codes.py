"""Language codes: one place that turns every model's labels into the codes corpusfilter writes.

corpusfilter writes ISO 639-1 two-letter codes where a language has one (``de``), as lid.176
does, and the model's own code otherwise (lid.176's ``als``, ``ceb``, ``yue``). Models spell
their labels differently:

* fastText models: ``__label__de`` (lid.176), ``__label__deu_Latn`` (GlotLID, NLLB/FLORES
  style: ISO 639-3 + ISO 15924 script).
* CLD2: ISO 639-1 with a few legacy or regional codes (``iw`` Hebrew, ``jw`` Javanese,
  ``zh-Hant``, ``sr-ME``) and ``xx-Scrp`` for text in a script it has no language for.

The ISO 639-3 → 639-1 table below is the ISO 639-2/T code of every ISO 639-1 language (from
the ISO 639-2 registration authority's code list, Library of Congress), plus the individual
ISO 639-3 codes that GlotLID uses for members of a macrolanguage (``arb`` Standard Arabic,
``zsm`` Standard Malay, ``cmn`` Mandarin, ...), mapped to the macrolanguage's two-letter
code as lid.176 labels them. Norwegian Bokmål is ``no`` (lid.176's and CLD2's label), also
when declared as ``nb``.
"""

from __future__ import annotations

import re

UND = "und"  # ISO 639-2 "undetermined": written where no model can be trusted

_639_3_TO_1 = dict(pair.split(":") for pair in ["aar:aa", "abk:ab", "afr:af", "aka:ak", "amh:am", "ara:ar", "arg:an", "asm:as", "ava:av", "ave:ae", "aym:ay", "aze:az", "bak:ba", "bam:bm", "bel:be", "ben:bn", "bis:bi", "bod:bo", "bos:bs", "bre:br", "bul:bg", "cat:ca", "ces:cs", "cha:ch", "che:ce", "chu:cu", "chv:cv", "cor:kw", "cos:co", "cre:cr", "cym:cy", "dan:da", "deu:de", "div:dv", "dzo:dz", "ell:el", "eng:en", "epo:eo", "est:et", "eus:eu", "ewe:ee", "fao:fo", "fas:fa", "fij:fj", "fin:fi", "fra:fr", "fry:fy", "ful:ff", "gla:gd", "gle:ga", "glg:gl", "glv:gv", "grn:gn", "guj:gu", "hat:ht", "hau:ha", "heb:he", "her:hz", "hin:hi", "hmo:ho", "hrv:hr", "hun:hu", "hye:hy", "ibo:ig", "ido:io", "iii:ii", "iku:iu", "ile:ie", "ina:ia", "ind:id", "ipk:ik", "isl:is", "ita:it", "jav:jv", "jpn:ja", "kal:kl", "kan:kn", "kas:ks", "kat:ka", "kau:kr", "kaz:kk", "khm:km", "kik:ki", "kin:rw", "kir:ky", "kom:kv", "kon:kg", "kor:ko", "kua:kj", "kur:ku", "lao:lo", "lat:la", "lav:lv", "lim:li", "lin:ln", "lit:lt", "ltz:lb", "lub:lu", "lug:lg", "mah:mh", "mal:ml", "mar:mr", "mkd:mk", "mlg:mg", "mlt:mt", "mon:mn", "mri:mi", "msa:ms", "mya:my", "nau:na", "nav:nv", "nbl:nr", "nde:nd", "ndo:ng", "nep:ne", "nld:nl", "nno:nn", "nob:no", "nor:no", "nya:ny", "oci:oc", "oji:oj", "ori:or", "orm:om", "oss:os", "pan:pa", "pli:pi", "pol:pl", "por:pt", "pus:ps", "que:qu", "roh:rm", "ron:ro", "run:rn", "rus:ru", "sag:sg", "san:sa", "sin:si", "slk:sk", "slv:sl", "sme:se", "smo:sm", "sna:sn", "snd:sd", "som:so", "sot:st", "spa:es", "sqi:sq", "srd:sc", "srp:sr", "ssw:ss", "sun:su", "swa:sw", "swe:sv", "tah:ty", "tam:ta", "tat:tt", "tel:te", "tgk:tg", "tgl:tl", "tha:th", "tir:ti", "ton:to", "tsn:tn", "tso:ts", "tuk:tk", "tur:tr", "twi:tw", "uig:ug", "ukr:uk", "urd:ur", "uzb:uz", "ven:ve", "vie:vi", "vol:vo", "wln:wa", "wol:wo", "xho:xh", "yid:yi", "yor:yo", "zha:za", "zho:zh", "zul:zu", "arb:ar", "zsm:ms", "cmn:zh", "pes:fa", "prs:fa", "ekk:et", "lvs:lv", "khk:mn", "npi:ne", "ory:or", "plt:mg", "swh:sw", "uzn:uz", "azj:az", "gaz:om", "ydd:yi", "als:sq", "fil:tl"])

# Legacy and regional codes (CLD2's, and old HTML ``lang`` values). Norwegian Bokmål is
# written "no", as both lid.176 and CLD2 label it.
_ALIASES = {"iw": "he", "jw": "jv", "in": "id", "ji": "yi", "nb": "no", "zh-Hant": "zh",
            "sr-ME": "sr"}
# CLD2 labels that are not languages: unknown, and its internal test/junk labels.
CLD2_NOT_LANGUAGES = frozenset({"un", "xxx", "zzb", "zze", "zzh", "zzp"})

_GLOT_RE = re.compile(r"^([a-z]{3})_([A-Z][a-z]{3})$")
_LABEL_PREFIX = "__label__"


def from_fasttext(label: str) -> str:
    """A fastText label as corpusfilter writes it: ``__label__en`` → ``en``,
    ``__label__deu_Latn`` → ``de``, ``__label__yue_Hant`` → ``yue``.

    Plain codes are kept as the model spells them: lid.176's three-letter labels are
    Wikipedia codes (``als`` is Alemannic there, Tosk Albanian in GlotLID), so only the
    ``xxx_Scrp`` form is read as ISO 639-3.
    """
    if label.startswith(_LABEL_PREFIX):
        label = label[len(_LABEL_PREFIX):]
    m = _GLOT_RE.match(label)
    if m:
        return _639_3_TO_1.get(m.group(1), m.group(1))
    return label


def from_cld2(code: str) -> str | None:
    """A CLD2 language code as corpusfilter writes it; None for unknown and ``xx-Scrp``
    (script only) labels."""
    if code in CLD2_NOT_LANGUAGES or code.startswith("xx-"):
        return None
    return _ALIASES.get(code, code)


def declared(value: str | None) -> str | None:
    """A language declared by a source (HTML ``lang``, metadata) in corpusfilter's codes:
    ``en-US`` → ``en``, ``deu`` → ``de``, ``zh_Hant`` → ``zh``; None when empty."""
    if not value:
        return None
    code = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
    if not code:
        return None
    return _639_3_TO_1.get(code, _ALIASES.get(code, code))


def iso_639_1() -> frozenset[str]:
    """Every ISO 639-1 code (the languages a declared code can be checked against)."""
    return frozenset(_639_3_TO_1.values()) | {"nb"}
