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
        "phone$", "phones$", "telephone", "telephoning", "tel$", "tele$", "ph$", "call$", "calls$", "calling$",
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
        "dns$", "ping$", "subnet", "netmask", "router", "proxy", "nameserver", "inet$", "vpn$", "localhost",
    ),
    # A number after these is a reference, not personal data (the list of what
    # phone and card findings on web pages were: ISBNs, DOIs, ids, pages, versions, ...).
    "reference": (
        "isbn", "issn", "doi$", "pmid", "pmcid", "arxiv", "id$", "ids$", "bug$", "ticket$", "tickets$",
        "issue$", "order$", "invoice", "art$", "artikel", "sku$", "ean$", "gtin", "upc$",
        "ref$", "case$", "patent", "page$", "pages$", "pp.", "p.", "vol$", "seite", "s.",
        "version", "ver$", "v.", "build$", "release", "revision", "rev$", "commit", "serial",
        "model$", "item$", "asin", "lot$", "batch$", "zip$", "plz$", "postcode", "postal",
        "barcode", "barcod", "kundennummer", "bestellnummer", "aktenzeichen", "az$", "hrb$",
        "ust", "vat$", "steuernummer", "registernummer", "amtsgericht", "lat$", "lon$",
        "latitude", "longitude", "coordinates", "coords", "company",
        "registration", "handelsregister", "apartado", "postfach", "box$", "p.o$", "cp$",
        "tel aviv",
    ),
}


def _compile(stems: tuple[str, ...]) -> str:
    parts = []
    for s in stems:
        word = re.escape(s.rstrip("$"))
        parts.append(word + (r"(?![^\W_])" if s.endswith("$") else ""))
    return "|".join(sorted(parts, key=len, reverse=True))


# One scan per window: every cue of every kind, each in a named group.
_CUE_RE = re.compile(
    r"(?<![^\W_])(?:" + "|".join(f"(?P<{k}>{_compile(v)})" for k, v in _CUES.items()) + ")",
    re.IGNORECASE)
_ICONS = re.compile("[☎✆℡📞📱📠]")
# Labels that may follow a number in address blocks: ``555 1234 office``, ``(0)171 ... (mobil)``.
_AFTER_PHONE = re.compile(
    r"[ \t\u00a0(:,-]{0,3}(?:office|fax|mobile|mobil|cell|tel|phone|telefon|handy)(?![^\W_])",
    re.IGNORECASE)


def nearest_cue(text: str, start: int, chars: int = CUE_CHARS) -> str | None:
    """The kind of the cue word nearest before `start` within `chars` characters (``phone``,
    ``card``, ``ssn``, ``iban``, ``ip``, ``reference``), or None. Only the current line and
    the one before are read (a heading two lines up is not the label of a number)."""
    lo = max(0, start - chars)
    nl = text.rfind("\n", lo, max(lo, start - 1))
    if nl >= 0:
        lo = nl + 1
    # Searching from `lo` (not slicing there) lets the look-behind see the character before
    # it, so the tail of a cut word ("cov|id") is not read as a word ("id").
    if _ICONS.search(text, lo, start):
        return "phone"
    kind = None
    for m in _CUE_RE.finditer(text, lo, start):
        kind = m.lastgroup
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
