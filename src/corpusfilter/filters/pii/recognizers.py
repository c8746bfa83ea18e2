"""E-mail, card, IBAN, IP, SSN and Bitcoin finders: a pattern, a validator, and evidence.

Each finder is a function ``(text) -> iterator of (start, end, score)``; the rules and where
their defaults come from are in docs/pii.md ("Precision rules"). Patterns are plain `re`
without nested quantifiers, so every finder is linear in the length of the text.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from corpusfilter.filters.pii.context import counting_run, nearest_cue

Hit = tuple[int, int, float]

# -- e-mail ----------------------------------------------------------------------------------

# Local part and domain labels in any script (internationalised addresses, RFC 6531), the
# top-level label letters only; soft hyphens (U+00AD, invisible line-break hints) may sit in
# the local part. Not the tail of a token glued on by a symbol that no address starts after
# (``<c40sdm$mov$1@smc.vnet.net>``, a Message-ID, is not the address ``1@smc.vnet.net``).
_EMAIL = re.compile(
    r"(?<![\w.%+@\xad$!#^~*`{-])[^\W_](?:[\w.%+\xad-]{0,63})@"
    r"((?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24})(?![\w-])")


@functools.cache
def offline_suffixes() -> Any:
    """tldextract with its bundled public-suffix snapshot: never fetches (the stock
    `tldextract.extract` downloads the list on first use)."""
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def find_emails(text: str) -> Iterator[Hit]:
    """RFC 5322 ``local@domain`` (the dot-atom subset, in any script) whose domain ends in a
    public suffix (``logo@2x.png`` has none). Not a fediverse handle (``@user@host.social``).
    With an ASCII domain the local part is ASCII too: letters of another script glued in
    front (``网站地图fyzw88@126.com``, "site map") are page text, not the address."""
    if "@" not in text:
        return
    extract = offline_suffixes()
    for m in _EMAIL.finditer(text):
        if not extract(m.group(1)).suffix:
            continue
        start = m.start()
        if m.group(1).isascii() and not text[start:m.start(1)].replace("\xad", "").isascii():
            ascii_tail = _ASCII_LOCAL_TAIL.search(text, start, m.start(1) - 1)
            if ascii_tail is None:
                continue
            start = ascii_tail.start()
        yield start, m.end(), 1.0


_ASCII_LOCAL_TAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]*$")


# -- payment cards ---------------------------------------------------------------------------

_CARD = re.compile(r"(?<![\w.,/=#-])\d(?:[ -]?\d){11,18}(?![\w]|[.,/-]\d)")
# Issuer identification number ranges and lengths (ISO/IEC 7812; the networks' published
# ranges as listed in Wikipedia's "Payment card number" table): prefix -> lengths.
_IIN: tuple[tuple[int, int, int, tuple[int, ...]], ...] = (
    # (digits of prefix, low, high, lengths)
    (1, 4, 4, (13, 16, 19)),                  # Visa
    (2, 51, 55, (16,)),                       # Mastercard
    (4, 2221, 2720, (16,)),                   # Mastercard 2-series
    (2, 34, 34, (15,)), (2, 37, 37, (15,)),   # American Express
    (4, 6011, 6011, (16, 17, 18, 19)),        # Discover
    (3, 644, 649, (16, 17, 18, 19)), (2, 65, 65, (16, 17, 18, 19)),
    (3, 300, 305, (14, 15, 16, 17, 18, 19)),  # Diners Club
    (2, 36, 36, (14, 15, 16, 17, 18, 19)), (2, 38, 39, (16, 17, 18, 19)),
    (4, 3528, 3589, (16, 17, 18, 19)),        # JCB
    (4, 1800, 1800, (15,)), (4, 2131, 2131, (15,)),
    (2, 62, 62, (16, 17, 18, 19)),            # UnionPay
    (2, 50, 50, tuple(range(12, 20))),        # Maestro
    (2, 56, 69, tuple(range(12, 20))),
    (4, 2200, 2204, (16, 17, 18, 19)),        # Mir
)
_CARD_GROUPING = re.compile(
    r"\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?$"   # 4-4-4-4(-3)
    r"|\d{4}([ -])\d{6}\2\d{4,5}$")                     # Amex 4-6-5, Diners 4-6-4


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of payment card numbers (ISO/IEC 7812-1)."""
    total = 0
    for k, ch in enumerate(reversed(digits)):
        d = int(ch)
        if k % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def issuer_length_ok(digits: str) -> bool:
    """Whether some card network issues numbers with this prefix and this length."""
    n = len(digits)
    return any(lo <= int(digits[:k]) <= hi and n in lengths for k, lo, hi, lengths in _IIN)


def find_cards(text: str) -> Iterator[Hit]:
    """Card numbers: an issuer range with a valid length, Luhn, not one repeated digit, and a
    card cue word before it or card grouping (``4111 1111 1111 1111``) that is not a run of
    consecutive numbers; never after a reference word (barcode, ISBN, id, ...)."""
    for m in _CARD.finditer(text):
        # The cue is read once per match: the cuts below share its start.
        cue = nearest_cue(text, m.start())
        if cue not in (None, "card"):
            continue  # after a reference word (barcode, ISBN, id, ...) or another type's cue
        # The pattern is greedy: a digit group that follows the number ("... 9957 8:10")
        # joins it. Try the whole match, then each prefix that ends before a separator.
        s = m.group()
        for cut in [len(s), *(k for k in range(len(s) - 1, 0, -1) if s[k] in " -")]:
            if _card_ok(s[:cut], cue == "card"):
                yield m.start(), m.start() + cut, 1.0
                break


def _card_ok(s: str, cued: bool) -> bool:
    """Whether `s` is a card number: card grouping unless `cued` (the cheap test first:
    on web pages most long digit runs are neither cued nor grouped), then issuer range,
    length and Luhn."""
    if not cued and (_CARD_GROUPING.match(s) is None
                     or counting_run(re.split(r"[ -]", s), 10**4)):
        return False
    digits = s.replace(" ", "").replace("-", "")
    return (len(digits) >= 12 and issuer_length_ok(digits) and luhn_valid(digits)
            and len(set(digits)) > 1)


# -- IBAN ------------------------------------------------------------------------------------

# Registered IBAN lengths per country (SWIFT IBAN Registry, release 98).
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
# Country code and check digits; the rest is read char by char (`_iban_body`): letters or
# digits with single spaces or hyphens between them (``DE89 3704 0044 0532 0130 00``).
_IBAN_HEAD = re.compile(r"(?<![^\W_])[A-Za-z]{2}\d{2}(?=[ -]?[A-Za-z0-9])")
_ASCII_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def _iban_body(text: str, pos: int, need: int) -> int | None:
    """End of `need` ASCII letters or digits from `pos`, single space or hyphen allowed
    between them; None if they run out first."""
    n = len(text)
    got = 0
    while got < need:
        if pos < n and text[pos] in " -" and pos + 1 < n and text[pos + 1] in _ALNUM:
            pos += 1
        if pos >= n or text[pos] not in _ALNUM:
            return None
        pos += 1
        got += 1
    return pos


def iban_valid(iban: str) -> bool:
    """ISO 13616 check: registered length for the country and mod-97 remainder 1."""
    iban = iban.upper()
    if IBAN_LENGTHS.get(iban[:2]) != len(iban):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def find_ibans(text: str) -> Iterator[Hit]:
    """IBANs at their country's registered length that pass the mod-97 check, in any case
    and grouping. Not upper case, they also need an IBAN cue word or groups of four, since
    one lower-case token in 97 passes the check by chance."""
    done = 0
    for m in _IBAN_HEAD.finditer(text):
        if m.start() < done:
            continue
        length = IBAN_LENGTHS.get(m.group()[:2].upper())
        end = None if length is None else _iban_body(text, m.end(), length - 4)
        # The next character must not be glued on (an ASCII letter or digit).
        if end is None or (end < len(text) and text[end] in _ASCII_WORD):
            continue
        s = text[m.start():end]
        if not iban_valid(s.replace(" ", "").replace("-", "")):
            continue
        if not s.isupper() and not (nearest_cue(text, m.start()) == "iban"
                                    or _IBAN_GROUPED.fullmatch(s)):
            continue
        done = end
        yield m.start(), end, 1.0


_IBAN_GROUPED = re.compile(r"\w{4}(?:[ -]\w{4})+(?:[ -]\w{1,3})?")


# -- IP addresses ----------------------------------------------------------------------------

# Not glued to a word or a longer dotted number; a sentence's full stop may touch it
# ("... with names.186.243.137.122").
_IPV4 = re.compile(r"(?<!\w)(?<![\d:]\.)(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?<![\d:]\.)[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?![\w:])")
SCORE_IP = 0.6  # Presidio's IpRecognizer score


def find_ips(text: str) -> Iterator[Hit]:
    """IPv4 and IPv6 addresses `ipaddress` accepts, except version strings: not after a
    version word (``version``, ``v``, ``build``), four one-digit parts (``1.2.0.3``) only
    after an IP cue word; IPv6 with fewer than two groups written out or no digit (Fortran's ``::a``, C++'s
    ``a::b``) only after an IP cue word."""
    if "." in text:
        for m in _IPV4.finditer(text):
            s = m.group()
            parts = s.split(".")
            if any(len(p) > 1 and p[0] == "0" for p in parts):
                continue  # leading zeros: section numbers, dates, not dotted-decimal IPs
            try:
                ipaddress.IPv4Address(s)
            except ValueError:
                continue
            cue = nearest_cue(text, m.start())
            if cue == "version":
                continue
            if all(len(p) == 1 for p in parts) and cue != "ip" and len(set(parts)) > 1:
                continue  # "1.2.0.3" is a version; "1.1.1.1", "8.8.8.8" are resolvers
            yield m.start(), m.end(), SCORE_IP
    if "::" in text or text.count(":") >= 7:
        for m in _IPV6.finditer(text):
            s = m.group()
            groups = [g for g in s.split(":") if g]
            try:
                ipaddress.IPv6Address(s)
            except ValueError:
                continue
            cue = nearest_cue(text, m.start())
            if cue == "version" or ((len(groups) < 2 or not any(c.isdigit() for c in s))
                                      and cue != "ip"):
                continue
            yield m.start(), m.end(), SCORE_IP


# -- US social security numbers --------------------------------------------------------------

_SSN = re.compile(r"(?<![\w.,/=#-])(\d{3})([- .]?)(\d{2})\2(\d{4})(?![\w]|[.,/-]\d)")
SCORE_SSN = 0.85
# Numbers the SSA never issued or that were published as examples (Presidio's
# UsSsnRecognizer invalidation list; SSA, "Social Security Number Randomization").
_SSN_NEVER = frozenset({"078051120", "123456789", "219099999", "457555462", "987654320"})


def find_ssns(text: str) -> Iterator[Hit]:
    """US SSNs: ``ddd-dd-dddd``, ``ddd dd dddd`` or nine digits with an SSN cue word before
    them and a valid area (not 000, 666, 900-999), group (not 00) and serial (not 0000)."""
    for m in _SSN.finditer(text):
        area, group, serial = m.group(1), m.group(3), m.group(4)
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
            continue
        if area + group + serial in _SSN_NEVER:
            continue
        if nearest_cue(text, m.start()) == "ssn":
            yield m.start(), m.end(), SCORE_SSN


# -- Bitcoin addresses -----------------------------------------------------------------------

_BTC = re.compile(r"(?<![\w])(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|bc1[02-9ac-hj-np-z]{11,71})"
                  r"(?![\w])")


@functools.cache
def _crypto_validator() -> Any:
    from presidio_analyzer.predefined_recognizers import CryptoRecognizer

    return CryptoRecognizer()


def find_crypto(text: str) -> Iterator[Hit]:
    """Bitcoin addresses with a valid Base58Check or Bech32 checksum (Presidio's
    `CryptoRecognizer.validate_result`)."""
    validate = _crypto_validator().validate_result
    for m in _BTC.finditer(text):
        if validate(m.group()):
            yield m.start(), m.end(), 1.0
