"""The precision rules of docs/pii.md, one case per false-positive family that issue #15
found on real pages (contexts of the same shape as those pages), and the true entities next
to them that must still be found."""

from __future__ import annotations

import pytest

from corpusfilter.filters.pii import Detector

DETECTOR = Detector()

NOT_PII = {
    "date": "Beitrag vom 07.11.2023 Ormalingen",
    "date and hour": "Antworten 09.04.2020 14:29 Uhr",
    "archive ranges": "► 06/14 - 06/21 (11) ► 06/07 - 06/14 (9)",
    "page navigation": "Seite 104 105 106 107 108 weiter",
    "pagination": "1 2 3 4 5 6 7 8 next",
    "year list": "Archiv: 2010 2011 2012 2013 2014 2015 2016",
    "years as a card": "Date range 1900 1901 1902 1903 1904",
    "ISBN as phone": "Canterbury University Press. ISBN 0-908812-93-0.",
    "ISBN prefix as SSN": "ISBN 978-3-16-148410-0 and 978-12-3456",
    "DOI part": "doi:10.1016/0169-5347(93)90009-E and doi=10.1.1.8.5098",
    "library barcodes": "Bar code\n • 31223125214735\n • 31223125214768",
    "software version": "Version: 6.2.6.6-0.55 / AEZ, build 1.2.0.3",
    "Fortran scope": "use mpi, only: a, b\n x = y::a + 2",
    "id in a URL": "https://example.org/food/8808120/hottest?id=07111234567#0711-123456",
    "coordinates": "latitudine: 45.43439433 longitudine: 11.186",
    "table numbers": "0.301   2.281   1.584\n 0.953   1.985  -1.557",
    "thousands": "kamen in Tel Aviv 300.000 Menschen zusammen",
    "house number ranges": "at (8085-8089 Main St., 8095-8101 Main St.",
    "page range": "ES&T, 52(24) : 14480-14486, 2018",
    "company number": "Telephone: 01507 | Company No. 3676192",
    "meeting id": "use meeting number 1604834046 and the password",
    "price": "only 1 234 567 € or $ 555 123 4567",
    "fediverse handle": "— @mhoye@mastodon.social",
    "retina image": "logo@2x.png",
}


@pytest.mark.parametrize("name", sorted(NOT_PII))
def test_shapes_that_pose_as_pii_are_not_found(name: str) -> None:
    text = NOT_PII[name]
    found = [(f.entity_type, text[f.start:f.end]) for f in DETECTOR.analyze(text)]
    assert found == [], (name, found)


PII = [
    ("Telefon: +49 (0)30 / 420248-0\nFax", "PHONE_NUMBER", "+49 (0)30 / 420248-0"),
    ("Kontakt\n\n0471 - 41 41 41\n", "PHONE_NUMBER", "0471 - 41 41 41"),
    ("Call us: 206.548.5600\n", "PHONE_NUMBER", "206.548.5600"),
    ("■ＴＥＬ：０１２０−９１１−８５７\u3000■", "PHONE_NUMBER", "０１２０−９１１−８５７"),
    ("电话：021-54098575 传真", "PHONE_NUMBER", "021-54098575"),
    ("Tηλ: 28210 70563\n  τηλ: 28210 51003", "PHONE_NUMBER", "28210 51003"),
    ("202-628-8500 tel | 202-628-8503 fax", "PHONE_NUMBER", "202-628-8503"),
    ("ネット 11:51 07400 123660 folder", "PHONE_NUMBER", "07400 123660"),
    ("card 4111 1111 1111 1111 expires", "CREDIT_CARD", "4111 1111 1111 1111"),
    ("His social security number is 536-22-8726", "US_SSN", "536-22-8726"),
    ("my iban is gb82west12345698765432 thanks", "IBAN_CODE", "gb82west12345698765432"),
    ("IBAN: gb82 west 1234 5698 7654 32", "IBAN_CODE", "gb82 west 1234 5698 7654 32"),
    ("Spendenkonto: DE89 3704 0044 0532 0130 00Â bei", "IBAN_CODE",
     "DE89 3704 0044 0532 0130 00"),
    ("VPN aktiviert wie zb 1.1.1.1?", "IP_ADDRESS", "1.1.1.1"),
    ("Listening on localhost/127.0.0.1:1102", "IP_ADDRESS", "127.0.0.1"),
    ("pe\xadter.christo\xadpher@guardian.co.tt", "EMAIL_ADDRESS",
     "pe\xadter.christo\xadpher@guardian.co.tt"),
    ("网站地图fyzw88@126.com", "EMAIL_ADDRESS", "fyzw88@126.com"),
]


@pytest.mark.parametrize(("text", "entity", "span"), PII)
def test_entities_with_evidence_are_found(text: str, entity: str, span: str) -> None:
    found = [(f.entity_type, text[f.start:f.end]) for f in DETECTOR.analyze(text)]
    assert (entity, span) in found, found
