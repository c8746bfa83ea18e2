"""Evidence words: which identifier a number next to them is (or is not).

A digit string is a phone number, a card number or an SSN only when something around it says
so (docs/pii.md, "Precision rules"). `nearest_cue` reads the few words before a candidate and
returns the kind of the *nearest* cue word: in ``ISBN 0-521-79128-6`` the cue is ``isbn`` (not a
phone), in ``Tel.-Nr. 0711 123456`` it is ``tel``. Lists are multilingual because the web is:
English, German, French, Spanish, Portuguese, Italian, Dutch, Polish, Russian, Japanese,
Chinese words for the same thing.
"""

from __future__ import annotations

import itertools
import re

# Characters before a candidate searched for a cue: about five words (Presidio's context
# enhancer reads five words; `LemmaContextAwareEnhancer.context_prefix_count`).
CUE_CHARS = 48
# Characters after a candidate searched for a trailing label (``555 1234 office``).
AFTER_CHARS = 16

# Each kind: word stems matched at the start of a word (German compounds such as
# ``Telefonnummer`` begin with the stem). Stems ending in ``$`` must be the whole word.
_CUES: dict[str, tuple[str, ...]] = {
    "phone": (
        # en
        "phone$", "phones$", "telephone", "telephoning", "tel$", "tele$", "ph$", "call$",
        "calls$", "calling$",
        "called$", "reach$", "dial$", "ring$", "fax", "mobile$", "mob$", "cell$", "cellphone",
        "cellular", "landline", "hotline", "helpline", "whatsapp", "sms$", "text$", "texts$",
        "answering$", "answer$", "message$", "messages$", "contact$", "voicemail", "tollfree", "toll$",
        # de
        "telefon", "telefax", "handy", "mobil$", "mobilnummer", "mobiltelefon", "mobilfunk", "rufnummer",
        "rufen sie", "rufe", "anruf", "durchwahl", "festnetz", "fon$",
        "tfn$", "erreichbar",
        # fr / es / pt / it / nl / pl
        "téléphone", "tél$", "portable$", "appel", "teléfono", "telefono", "telefone",
        "móvil", "movil", "celular", "llam", "ligue", "cellulare", "chiam", "telefoon",
        "mobiel", "bel$", "zadzwo", "kom$", "komórk", "numer tel",
        # ru / el / ja / zh
        "тел", "звон", "моб", "τηλ", "電話", "携帯", "电话", "手机", "ｔｅｌ",
    ),
    "card": (
        "card", "cards$", "cc$", "credit", "visa$", "mastercard", "amex$", "maestro",
        "discover$", "debit", "kreditkarte", "karte", "carte", "tarjeta", "cartão", "carta$",
        "jcb$", "diners$", "unionpay",
    ),
    "ssn": (
        "ssn", "social security", "ss#", "ssa$", "sozialversicherung", "tin$", "itin$",
        "taxpayer",
    ),
    "iban": (
        "iban", "account", "bank", "konto", "bic$", "swift", "transfer", "wire$", "überweis",
        "compte", "cuenta", "conta$", "rib$",
    ),
    "ip": (
        "ip$", "ips$", "ipv4", "ipv6", "address", "addr$", "host", "server", "gateway",
        "dns$", "ping$", "subnet", "netmask", "router", "proxy", "nameserver", "inet$", "vpn$",
        "localhost",
    ),
    # A number after these is a software version: never a phone, card or IP address (a
    # dotted quad after "version" is a version string, issue #15).
    "version": (
        "version", "ver$", "v.", "build$", "release", "revision", "rev$", "commit$",
        "commits$",
    ),
    # A number after these is a reference, not personal data (the list of what
    # phone and card findings on web pages were: ISBNs, DOIs, ids, pages, versions, ...).
    "reference": (
        "isbn", "issn", "doi$", "pmid", "pmcid", "arxiv", "id$", "ids$", "bug$", "ticket$", "tickets$",
        "issue$", "order$", "invoice", "art.", "artikel", "sku$", "ean$", "gtin", "upc$",
        "ref$", "case$", "patent", "page$", "pages$", "pp.", "p.", "vol$", "seite", "s.",
        "serial",
        "model$", "item$", "asin", "lot$", "batch$", "zip$", "plz$", "postcode", "postal",
        "barcode", "barcod", "kundennummer", "bestellnummer", "aktenzeichen", "az$", "hrb$",
        "ust", "vat$", "steuernummer", "registernummer", "amtsgericht", "lat$", "lon$",
        "latitude", "longitude", "coordinates", "coords", "company",
        "registration", "handelsregister", "apartado", "postfach", "box$", "p.o$", "cp$",
        "tel aviv",
    ),
}


def _tables() -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, str],
                      dict[str, str], tuple[int, ...]]:
    """The cue lists as look-up tables: whole words, two-word phrases, words followed by a
    punctuation mark (``p.``, ``ss#``), word prefixes, and CJK stems found inside a run of
    letters (CJK text has no spaces between words)."""
    exact: dict[str, str] = {}
    phrase: dict[str, str] = {}
    marked: dict[str, str] = {}
    prefix: dict[str, str] = {}
    infix: dict[str, str] = {}
    for kind, stems in _CUES.items():
        for stem in stems:
            word = stem.rstrip("$")
            if " " in word:
                phrase[word] = kind
            elif not word.isalpha():
                marked[word] = kind
            elif any("\u3040" <= c <= "\u9fff" for c in word):
                infix[word] = kind
            elif stem.endswith("$"):
                exact[word] = kind
            else:
                prefix[word] = kind
    return exact, phrase, marked, prefix, infix, tuple(sorted({len(w) for w in prefix}))


_EXACT, _PHRASE, _MARKED, _PREFIX, _INFIX, _PREFIX_LENS = _tables()
_LETTERS = re.compile(r"[^\W\d_]+")


def _cue_of(word: str, after: str, following: str | None) -> tuple[str | None, bool]:
    """The kind of one lower-cased word (`after`: the two characters after it; `following`:
    the next word when only a space separates them), and whether the phrase took the next
    word too."""
    if following is not None and f"{word} {following}" in _PHRASE:
        return _PHRASE[f"{word} {following}"], True
    for k in (1, 2):
        if word + after[:k] in _MARKED:
            return _MARKED[word + after[:k]], False
    kind = _EXACT.get(word)
    if kind is not None:
        return kind, False
    for n in _PREFIX_LENS:
        if n > len(word):
            break
        kind = _PREFIX.get(word[:n])
        if kind is not None:
            return kind, False
    for stem, kind in _INFIX.items():
        if stem in word:
            return kind, False
    return None, False


_ICONS = re.compile("[☎✆℡📞📱📠]")
# Labels that may follow a number in address blocks: ``555 1234 office``, ``(0)171 ... (mobil)``.
_AFTER_PHONE = re.compile(
    r"[ \t\u00a0(:,-]{0,3}(?:office|fax|mobile|mobil|cell|tel|phone|telefon|handy)(?![^\W_])",
    re.IGNORECASE)


def nearest_cue(text: str, start: int, chars: int = CUE_CHARS) -> str | None:
    """The kind of the cue word nearest before `start` within `chars` characters (``phone``,
    ``card``, ``ssn``, ``iban``, ``ip``, ``version``, ``reference``), or None. Only the current line and
    the one before are read (a heading two lines up is not the label of a number)."""
    lo = max(0, start - chars)
    nl = text.rfind("\n", lo, max(lo, start - 1))
    if nl >= 0:
        lo = nl + 1
    # The tail of a word cut at `lo` ("cov|id") is not read as a word ("id").
    if _ICONS.search(text, lo, start):
        return "phone"
    words = [m for m in _LETTERS.finditer(text, lo, start)
             if not (m.start() == lo and lo > 0 and text[lo - 1].isalpha())]  # a cut word
    kind = None
    skip = False
    for k, m in enumerate(words):
        if skip:
            skip = False
            continue
        nxt = words[k + 1] if k + 1 < len(words) else None
        following = nxt.group().lower() if nxt and nxt.start() == m.end() + 1 \
            and text[m.end()] == " " else None
        found, skip = _cue_of(m.group().lower(), text[m.end():m.end() + 2], following)
        if found is not None:
            kind = found
    return kind


def phone_label_after(text: str, end: int) -> bool:
    """Whether a phone label (``office``, ``fax``, ``mobile``, ...) directly follows `end`."""
    return _AFTER_PHONE.match(text, end, min(len(text), end + AFTER_CHARS)) is not None


def counting_run(groups: list[str], max_step: int = 10) -> bool:
    """Whether digit groups count up or down by one fixed step of at most `max_step`
    (``104 105 106``, ``1004 1005 1006 1007``): page navigation and list numbers, which pass
    the checksums of cards one time in ten."""
    if len(groups) < 2:
        return False
    steps = {int(b) - int(a) for a, b in itertools.pairwise(groups)}
    return len(steps) == 1 and abs(next(iter(steps))) <= max_step
