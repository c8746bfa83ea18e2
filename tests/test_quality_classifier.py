"""`quality_classifier`, `quality_classifier_percentile` and `corpusfilter train-quality` on
real human-labelled web pages (tests/data/quality/dclm_labeled.parquet, see its README)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import UNSHARE
from corpusfilter.core.errors import ConfigError
from corpusfilter.core.pipeline import Pipeline
from corpusfilter.filters.language import shipped_model_path
from corpusfilter.filters.quality_model import HashedLogReg, load_quality_model
from corpusfilter.train_quality import cross_validate, roc_auc

ROOT = Path(__file__).resolve().parents[1]
LABELED = ROOT / "tests" / "data" / "quality" / "dclm_labeled.parquet"
EXE = [sys.executable, "-m", "corpusfilter"]
SMALL = {"buckets": 1 << 16, "epochs": 150}  # quick to train; CV figures with defaults: docs


@pytest.fixture(scope="module")
def labeled() -> pa.Table:
    return pq.read_table(LABELED)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, labeled) -> Path:
    path = tmp_path_factory.mktemp("model") / "dclm.cfq"
    model = HashedLogReg.train(labeled["text"].to_pylist(),
                               np.array(labeled["label"].to_pylist()), **SMALL)
    model.save(path)
    return path


def test_cross_validated_model_ranks_good_pages_above_bad(labeled):
    y = np.array(labeled["label"].to_pylist())
    cv = cross_validate(labeled["text"].to_pylist(), y, k=5, seed=0, recall=0.9, **SMALL)
    assert cv.auc > 0.75
    assert cv.recall >= 0.9
    # the default heuristics keep 0.57 of the bad pages at 0.82 of the good (docs/quality.md)
    assert cv.bad_kept < 0.57
    again = cross_validate(labeled["text"].to_pylist(), y, k=5, seed=0, recall=0.9, **SMALL)
    assert np.array_equal(cv.oof, again.oof)  # seeded: identical


def test_roc_auc_matches_pairwise_definition(labeled):
    rng = np.random.default_rng(1)
    s = np.round(rng.random(60), 1)  # ties on purpose
    y = np.array([0, 1] * 30)
    pairs = [(a > b) + 0.5 * (a == b) for a in s[y == 1] for b in s[y == 0]]
    assert roc_auc(s, y) == pytest.approx(np.mean(pairs))


def test_saved_model_scores_like_the_quantised_model(tmp_path, labeled):
    texts = labeled["text"].to_pylist()
    model = HashedLogReg.train(texts[:200], np.array(labeled["label"].to_pylist()[:200]),
                               **SMALL)
    path = tmp_path / "m.cfq"
    model.save(path)
    loaded = load_quality_model(path, None, None)
    assert np.allclose(loaded.score(texts[200:]), model.quantised().score(texts[200:]))
    assert np.abs(loaded.score(texts[200:]) - model.score(texts[200:])).max() < 0.05


def test_threshold_removes_low_scores_with_ledger_rows(model_file, labeled):
    res = Pipeline({"stages": [{"stage": "quality_classifier", "model_path": str(model_file),
                                "min_score": 0.5}]}).run(labeled)
    led = res.ledger
    assert res.kept.num_rows + led.num_rows == labeled.num_rows
    assert set(led["reason"].to_pylist()) == {"quality_classifier.min_score"}
    assert pc.max(led["score"]).as_py() < 0.5
    assert set(led["threshold"].to_pylist()) == {0.5}
    # trained on these very pages: removed pages are mostly the bad ones
    removed = set(led["doc_id"].to_pylist())
    bad = {i for i, y in zip(labeled["id"].to_pylist(), labeled["label"].to_pylist(),
                             strict=True) if y == 0}
    assert len(removed & bad) > 0.9 * len(removed)


def test_per_language_threshold(model_file, labeled):
    half = labeled.num_rows // 2
    t = labeled.append_column("lang", pa.array(["en"] * half + ["de"] * (labeled.num_rows - half)))
    res = Pipeline({"stages": [{"stage": "quality_classifier", "model_path": str(model_file),
                                "min_score": 0.99, "min_score_by_lang": {"de": None}}],
                    }).run(t.slice(0, labeled.num_rows))
    kept_lang = res.kept["lang"].to_pylist()
    assert kept_lang.count("de") == labeled.num_rows - half  # rule off for de
    assert res.ledger.num_rows > 0 and set(res.ledger["lang"].to_pylist()) == {"en"}


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch_size=st.integers(min_value=1, max_value=250))
def test_percentile_is_the_same_whatever_the_batching(model_file, labeled, batch_size):
    cfg = {"stages": [{"stage": "quality_classifier_percentile", "model_path": str(model_file),
                       "keep_fraction": 0.3}]}
    whole = Pipeline(cfg).run(labeled, batch_size=1000)
    res = Pipeline(cfg).run(labeled, batch_size=batch_size)
    assert res.kept["id"].to_pylist() == whole.kept["id"].to_pylist()
    assert abs(whole.kept.num_rows - 0.3 * labeled.num_rows) <= 1
    led = whole.ledger
    assert set(led["reason"].to_pylist()) == {"quality_classifier_percentile.below_percentile"}
    assert (led["score"].to_numpy() < led["threshold"].to_numpy()).all()


def test_percentile_by_language_keeps_each_languages_top(model_file, labeled):
    half = labeled.num_rows // 2
    t = labeled.append_column("lang", pa.array(["en"] * half + ["de"] * (labeled.num_rows - half)))
    res = Pipeline({"stages": [{"stage": "quality_classifier_percentile",
                                "model_path": str(model_file), "keep_fraction": 0.5,
                                "by_lang": True}]}).run(t)
    langs = res.kept["lang"].to_pylist()
    assert abs(langs.count("en") - half / 2) <= 1 and abs(langs.count("de") - half / 2) <= 1


def test_fasttext_model_scores_probability_of_good_label(labeled, tmp_path):
    # any fastText classifier file works; lid.176.ftz with good_label en is a real one
    texts = ["The committee will publish its report on the new railway next week.",
             "Der Ausschuss wird seinen Bericht über die neue Bahnstrecke nächste Woche "
             "veröffentlichen."]
    model = load_quality_model(shipped_model_path(), None, "en")
    s = model.score(texts)
    assert s[0] > 0.9 and s[1] < 0.1
    with pytest.raises(ValueError, match="good_label"):
        load_quality_model(shipped_model_path(), None, None)
    with pytest.raises(ValueError, match="not a label"):
        load_quality_model(shipped_model_path(), None, "hq")


@pytest.mark.parametrize("params", [
    {"model_path": "/nonexistent.cfq"},
    {"model_path": str(LABELED), "min_score": 1.5},
])
def test_invalid_parameters_are_config_errors(params):
    with pytest.raises(ConfigError):
        Pipeline({"stages": [{"stage": "quality_classifier", **params}]})


def test_not_a_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "x.cfq"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a corpusfilter model"):
        load_quality_model(bad, None, None)


def test_train_quality_then_run_from_the_cli(tmp_path, labeled):
    model = tmp_path / "m.cfq"
    proc = subprocess.run([*EXE, "train-quality", str(LABELED), "-o", str(model),
                           "--bits", "16", "--epochs", "100", "--folds", "3"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "3-fold CV (seed 0" in proc.stdout and "ROC AUC" in proc.stdout
    auc = float(proc.stdout.split("ROC AUC ")[1].split(";")[0])
    assert auc > 0.7
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"stages:\n  - stage: quality_classifier\n    model_path: {model}\n"
                   f"    min_score: 0.5\n")
    out = tmp_path / "out"
    run = subprocess.run([*EXE, "run", str(cfg), str(LABELED), "-o", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    ver = subprocess.run([*EXE, "verify", str(out)], capture_output=True, text=True, timeout=600)
    assert ver.returncode == 0, ver.stderr
    ledger = pa.concat_tables([pq.read_table(p) for p in (out / "ledger").glob("*.parquet")])
    assert ledger.num_rows > 0
    assert set(ledger["reason"].to_pylist()) == {"quality_classifier.min_score"}


def test_train_quality_from_positives_and_negatives(tmp_path, labeled):
    good = labeled.filter(pc.equal(labeled["label"], 1)).select(["text"])
    bad = labeled.filter(pc.equal(labeled["label"], 0)).select(["text"])
    pq.write_table(good, tmp_path / "pos.parquet")
    pq.write_table(bad, tmp_path / "neg.parquet")
    proc = subprocess.run([*EXE, "train-quality", "--positives", str(tmp_path / "pos.parquet"),
                           "--negatives", str(tmp_path / "neg.parquet"), "-o",
                           str(tmp_path / "m.cfq"), "--bits", "16", "--epochs", "50",
                           "--folds", "2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert f"{labeled.num_rows} examples: {good.num_rows} good" in proc.stdout
    meta = load_quality_model(tmp_path / "m.cfq", None, None).meta  # type: ignore[attr-defined]
    assert meta["examples"] == labeled.num_rows and "cv_auc" in meta
    assert json.dumps(meta)


def test_train_quality_bad_input_names_file_and_row(tmp_path):
    t = pa.table({"text": ["good page text", None], "label": [1, 0]})
    pq.write_table(t, tmp_path / "x.parquet")
    proc = subprocess.run([*EXE, "train-quality", str(tmp_path / "x.parquet"), "-o",
                           str(tmp_path / "m.cfq")], capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "x.parquet: row 1: text is null" in proc.stderr
    assert "Traceback" not in proc.stderr


def _kept_ids(out: Path) -> list[str]:
    tables = [pq.read_table(p) for p in sorted((out / "data").rglob("*.parquet"))]
    return sorted(pa.concat_tables(tables)["id"].to_pylist())


def test_percentile_is_the_same_across_shards_and_workers(tmp_path, model_file, labeled):
    whole = tmp_path / "whole.parquet"
    pq.write_table(labeled, whole)
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(3):  # uneven shards, interleaved rows
        pq.write_table(labeled.take(list(range(k, labeled.num_rows, 3))),
                       shards / f"part-{k}.parquet")
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"stages:\n  - stage: quality_classifier_percentile\n"
                   f"    model_path: {model_file}\n    keep_fraction: 0.4\n")
    outs = []
    for name, inp, workers in (("a", whole, "1"), ("b", shards, "2")):
        out = tmp_path / name
        proc = subprocess.run([*EXE, "run", str(cfg), str(inp), "-o", str(out), "--workers",
                               workers, "--batch-size", "17", "-q", "--no-progress"],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        outs.append(_kept_ids(out))
    assert outs[0] == outs[1]
    assert abs(len(outs[0]) - 0.4 * labeled.num_rows) <= 1


def test_whatif_redecides_the_threshold_from_logged_scores(tmp_path, model_file, labeled):
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"stages:\n  - stage: quality_classifier\n    model_path: {model_file}\n"
                   f"    min_score: 0.5\n")
    out = tmp_path / "out"
    run = subprocess.run([*EXE, "run", str(cfg), str(LABELED), "-o", str(out), "--score-all",
                          "-q", "--no-progress"], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    what = subprocess.run([*EXE, "whatif", str(out), "--set",
                           "quality_classifier.min_score=0.9"],
                          capture_output=True, text=True, timeout=600)
    assert what.returncode == 0, what.stderr
    s = load_quality_model(model_file, None, None).score(labeled["text"].to_pylist())
    changed = int(((s >= 0.5) & (s < 0.9)).sum())
    assert changed > 0
    assert f"{changed} documents change fate" in what.stdout


_PROBE = """import errno, socket
s = socket.socket()
try:
    s.connect(("127.0.0.1", 9))
except OSError as e:
    print("unreachable" if e.errno == errno.ENETUNREACH else e)
"""


@pytest.mark.skipif(UNSHARE is None or not (ROOT / ".git").exists() or shutil.which("git") is None,
                    reason="needs unshare -n and a git checkout")
def test_train_then_filter_from_a_fresh_clone_without_network(tmp_path):
    # the committed files alone (a clone of HEAD), in a process that has no network at all:
    # train a model on the shipped labelled pages, filter with it, verify the output
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "1", f"file://{ROOT}", str(clone)],
                   check=True, capture_output=True, timeout=300)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(clone / "src")}
    data = clone / "tests" / "data" / "quality" / "dclm_labeled.parquet"
    model = tmp_path / "q.cfq"
    assert UNSHARE is not None

    def offline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*UNSHARE, *EXE, *args], capture_output=True, text=True,
                              env=env, cwd=tmp_path, timeout=600)

    # inside a new network namespace even loopback is down: connecting fails as unreachable
    probe = subprocess.run([*UNSHARE, sys.executable, "-c", _PROBE], capture_output=True,
                           text=True, env=env)
    assert probe.stdout.strip() == "unreachable", probe.stdout + probe.stderr
    where = subprocess.run([*UNSHARE, sys.executable, "-c",
                            "import corpusfilter; print(corpusfilter.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert where.stdout.startswith(str(clone)), where.stdout + where.stderr
    trained = offline("train-quality", str(data), "-o", str(model), "--bits", "16",
                      "--epochs", "60", "--folds", "2")
    assert trained.returncode == 0, trained.stderr
    assert "ROC AUC" in trained.stdout and model.is_file()
    cfg = tmp_path / "p.yaml"
    cfg.write_text(f"stages:\n  - stage: quality_classifier\n    model_path: {model}\n"
                   f"    min_score: 0.5\n")
    out = tmp_path / "out"
    run = offline("run", str(cfg), str(data), "-o", str(out))
    assert run.returncode == 0, run.stderr
    assert offline("verify", str(out)).returncode == 0
    ledger = pa.concat_tables([pq.read_table(p) for p in (out / "ledger").glob("*.parquet")])
    assert 0 < ledger.num_rows < pq.read_metadata(data).num_rows
