"""`corpusfilter card`: the provenance card of a run on real web text, and `card --check`
passing on an untouched copy of the dataset and failing on one changed byte."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from corpusfilter.cli import main
from corpusfilter.report.card import check_card
from test_report import corpus, run_dir


@pytest.fixture(scope="module")
def carded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("card")
    out = run_dir(tmp, corpus(seed=5, plant="alpha"))
    assert main(["card", str(out), "-o", str(tmp / "card")]) == 0
    return out, tmp / "card.json"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_card_describes_the_run(carded: tuple[Path, Path]) -> None:
    out, card_path = carded
    card = json.loads(card_path.read_text())
    run = json.loads((out / "run.json").read_text())
    assert [i["sha256"] for i in card["inputs"]] == [sha(Path(i["path"])) for i in run["inputs"]]
    data = sorted((out / "data").glob("*.parquet"))
    assert {o["path"]: o["sha256"] for o in card["outputs"]} == {
        f"data/{p.name}": sha(p) for p in data}
    assert sum(o["rows"] for o in card["outputs"]) == card["totals"]["output"]["docs"]
    assert [(s["stage"], s["version"], s["params"]) for s in card["pipeline"]["stages"]] == [
        (s["stage"], s["version"], s["params"]) for s in run["stages"]]
    assert card["verify"]["ok"] and card["verify"]["input_docs"] == 400
    removed = {(r["stage"], r["value"]): r["removed"] for r in card["removals"]
               if r["facet"] == "source"}
    stats = json.loads((out / "stats.json").read_text())
    assert removed[("doc_length", "alpha")] == \
        stats["stages"]["doc_length"]["by"]["source"]["alpha"]["removed"] > 0
    md = card_path.with_suffix(".md").read_text()
    assert "| doc_length | doc_length@1 |" in md and card["outputs"][0]["sha256"] in md


def test_check_passes_on_an_untouched_copy(carded: tuple[Path, Path], tmp_path: Path) -> None:
    out, card_path = carded
    copy = tmp_path / "copy"
    shutil.copytree(out / "data", copy)
    assert check_card(card_path, copy) == []
    assert check_card(card_path, out) == []  # the run directory itself
    assert main(["card", "--check", str(card_path), str(copy)]) == 0


def test_check_fails_on_one_changed_byte(carded: tuple[Path, Path], tmp_path: Path) -> None:
    out, card_path = carded
    copy = tmp_path / "copy"
    shutil.copytree(out / "data", copy)
    shard = sorted(copy.glob("*.parquet"))[1]
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    shard.write_bytes(bytes(raw))
    problems = check_card(card_path, copy)
    assert problems == [f"{shard.name}: SHA-256 differs from the card (same size: changed bytes)"]
    assert main(["card", "--check", str(card_path), str(copy)]) == 1


def test_check_fails_on_missing_and_extra_shards(carded: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    out, card_path = carded
    copy = tmp_path / "copy"
    shutil.copytree(out / "data", copy)
    first, second = sorted(copy.glob("*.parquet"))[:2]
    first.unlink()
    shutil.copy(second, copy / "extra.parquet")
    problems = check_card(card_path, copy)
    assert f"{first.name}: missing" in problems
    assert "extra.parquet: not described by the card" in problems
