"""E-mail addresses, not pieces of other tokens: a Message-ID in a mail archive header is not
an address (docs/pii.md, "Precision rules"). The text is a stretch of the DCLM page
quality-29e775ed8a01373a (quality_labeled.parquet; mlfoundations/dclm, MIT), a mail-archive
page whose addresses are obfuscated ("drbob at bigfoot.com")."""

from __future__ import annotations

from corpusfilter.filters.pii import Pii

HEADER = ("- From: drbob at bigfoot.com (Bobby R. Treat)\n"
          "- Date: Sun, 28 Mar 2004 00:08:10 -0500 (EST)\n"
          "- References: <c40sdm$mov$1@smc.vnet.net> <c4388p$egq$1@smc.vnet.net>\n"
          "- Sender: owner-wri-mathgroup at wolfram.com\n")


def test_message_ids_are_not_email_addresses() -> None:
    assert Pii().analyze(HEADER) == []


def test_addresses_next_to_punctuation_are_still_found() -> None:
    text = HEADER + "Contact: 'drbob@bigfoot.com', <owner-wri-mathgroup@wolfram.com>."
    found = [text[f.start:f.end] for f in Pii().analyze(text)]
    assert found == ["drbob@bigfoot.com", "owner-wri-mathgroup@wolfram.com"]
