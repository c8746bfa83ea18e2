"""IP addresses inserted anywhere in real web snippets are redacted: only a version word
(``version``, ``build``, ``commit``) before a dotted quad makes it a version string; other
reference words (``case``, ``page``, ``id``) and words that merely begin like one
(``committed``) do not hide an address (docs/pii.md, "Precision rules")."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path

import pyarrow.parquet as pq

from corpusfilter.filters.pii import Pii

SNIPPETS = [r["text"] for r in
            pq.read_table(Path(__file__).parent / "data" / "pii" / "web_snippets.parquet")
            .to_pylist()]


def test_ips_inserted_at_random_word_gaps_of_real_text_are_redacted() -> None:
    rng = random.Random(21)
    stage = Pii()
    missed = []
    for k in range(600):
        bits = rng.getrandbits(32 if k % 2 else 128)
        ip = str(ipaddress.IPv4Address(bits) if k % 2 else ipaddress.IPv6Address(bits))
        if k % 2 == 0 and sum(bool(g) for g in ip.split(":")) < 2:
            continue  # needs an IP cue (docs/pii.md)
        base = rng.choice(SNIPPETS)
        gaps = [i for i, c in enumerate(base) if c == " "]
        at = rng.choice(gaps) + 1
        text = base[:at] + ip + " " + base[at:]
        if ip in stage.scrub([text])[0]:
            missed.append(text[max(0, at - 50):at + len(ip)])
    assert missed == []


def test_a_version_word_still_makes_a_dotted_quad_a_version() -> None:
    stage = Pii()
    assert stage.analyze("Download version 2.4.10.3 for Windows") == []
    found = stage.analyze("we committed to 184.101.219.7 and page 10.2.3.4")
    assert [f.entity_type for f in found] == ["IP_ADDRESS", "IP_ADDRESS"]
