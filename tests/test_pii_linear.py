"""The `pii` stage is linear in document length on every input family (issue #21).

Stage version 1 took 1.0 / 3.3 / 14.7 / 61 / 287 s of CPU for 25 / 50 / 100 / 200 / 400 KB of
`555-123-4567 `. Each test times one input at two sizes in this process (CPU time) and asserts the time ratio: linear work gives about the size ratio (4), quadratic work
its square (16). No absolute time is asserted.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pytest

from corpusfilter.core.pipeline import Pipeline
from corpusfilter.filters.pii import Pii

FAMILIES = {
    # digit groups with the phone layout of North America (each one a candidate)
    "digit groups": "555-123-4567 ",
    # numbers with a cue word: every one is found and redacted, then re-analysed
    "phone list": "Tel. 0711 123456 ",
    # a number table with words (runs of groups that are never phone numbers)
    "number table": "Total 12 345 678 90 1.5 ",
    # card numbers with a card word, e-mail addresses, IBANs
    "mixed entities": "card 4111 1111 1111 1111, mail a.b@example.com, IBAN DE89 3704 0044 "
                      "0532 0130 00; ",
}


def cpu_seconds(pipe: Pipeline, text: str, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.process_time()
        pipe.run(pa.table({"id": ["a"], "text": [text]}))
        best = min(best, time.process_time() - t0)
    return best


@pytest.mark.slow
@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_time_grows_linearly_with_document_length(family: str) -> None:
    pipe = Pipeline([Pii()])
    pipe.setup()
    unit = FAMILIES[family]
    # 1 MB of digit groups (the case, timed once); 256 KB of the others, best of two
    big, rounds = (1 << 20, 1) if family == "digit groups" else (1 << 18, 2)
    small = big // 4
    cpu_seconds(pipe, unit * 50, 1)  # warm-up: imports, metadata, regex compilation
    t_small = cpu_seconds(pipe, unit * (small // len(unit)), rounds)
    t_big = cpu_seconds(pipe, unit * (big // len(unit)), rounds)
    ratio = t_big / max(t_small, 1e-3)
    assert ratio < 8, f"{family}: {t_small:.2f}s -> {t_big:.2f}s for 4x the text ({ratio:.1f}x)"
