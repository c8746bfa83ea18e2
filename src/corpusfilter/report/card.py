"""`corpusfilter card`: a provenance card of a finished run, and `card --check` of a dataset
against it.

The card (JSON, with a readable markdown twin) records what a downstream trainer needs to
trust a dataset: the SHA-256 of every input shard and of every file the run wrote (``data/``,
``ledger/``, ``scores/``, ``stats.json``), the pipeline with stage names, versions and
parameters, the corpusfilter / pyarrow / Python versions and models the run used, removals
per stage × group (from ``stats.json``) and the result of `verify`. ``card --check CARD DATA``
re-hashes the output shards in DATA: any changed byte, missing or extra shard fails.
SHA-256 (FIPS 180-4) because a card is an integrity claim, not a bucketing hash.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.data import Run

CARD_FORMAT = "corpusfilter-card/1"
RECORD_DIRS = ("ledger", "scores")


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _file_entry(path: str | Path, name: str, storage: dict | None = None) -> dict[str, Any]:
    """Size, SHA-256 (and rows, for Parquet) of a local file or an object at a URL."""
    from corpusfilter.io import fs

    loc = str(path)
    if not fs.is_url(loc):
        p = Path(loc)
        entry: dict[str, Any] = {"path": name, "bytes": p.stat().st_size,
                                 "sha256": file_sha256(p)}
    else:
        digest = hashlib.sha256()
        with fs.open_input_stream(loc, storage) as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        entry = {"path": name, "bytes": int(fs.info(loc, storage).size or 0),
                 "sha256": digest.hexdigest()}
    if loc.endswith(".parquet"):
        with fs.open_input_file(loc, storage) as f:
            entry["rows"] = pq.ParquetFile(f).metadata.num_rows
    return entry


def _models(run: Run) -> list[dict[str, Any]]:
    """Models the run's stages used: every parameter naming a model, and lid.176.ftz (with
    the SHA-256 the `language` stage checks before loading it) where no model_path was set."""
    out = []
    for s in run.stage_entries:
        params = s.get("params", {})
        named = {k: v for k, v in params.items() if "model" in k and v is not None}
        if s["stage"] == "language" and not params.get("model_path"):
            from corpusfilter.filters.language import SHIPPED_MODEL, SHIPPED_SHA256

            named = {"model": f"{SHIPPED_MODEL} (shipped with corpusfilter "
                              f"{run.meta.get('corpusfilter')})",
                     "sha256": SHIPPED_SHA256, **named}
        if named:
            out.append({"stage": s["label"], **named})
    return out


def _removals(run: Run) -> list[dict[str, Any]]:
    rows = []
    for stage, s in run.stats.get("stages", {}).items():
        for facet, values in s.get("by", {}).items():
            for value, c in sorted(values.items()):
                if c.get("in"):
                    rows.append({"stage": stage, "facet": facet, "value": value, "in": c["in"],
                                 "removed": c["removed"], "modified": c.get("modified", 0)})
    return rows


def build_card(out: str | Path) -> dict[str, Any]:
    """The provenance card of run directory `out` as a JSON-serialisable dict."""
    from corpusfilter import __version__
    from corpusfilter.io import fs
    from corpusfilter.verify import verify

    run = Run.open(out)
    meta = run.meta
    inputs = []
    storage = run.config.get("storage_options")
    for i in meta.get("inputs", []):
        p = i["path"]
        if not fs.exists(p, storage):
            raise CorpusFilterError(f"input shard {p} of this run no longer exists; a card "
                                    f"needs every input to hash it")
        inputs.append({"shard": i["shard"], **_file_entry(p, p, storage)})

    def under(d: str) -> list[dict[str, Any]]:
        base = fs.join(run.location, d)
        return [_file_entry(f, f"{d}/{f[len(base):].lstrip('/')}")
                for f in (fs.list_files(base) if fs.exists(base) else [])]

    outputs = under("data")
    records = [e for d in RECORD_DIRS for e in under(d)]
    records.append(_file_entry(fs.join(run.location, "stats.json"), "stats.json"))
    rep = verify(run.location)
    return {
        "format": CARD_FORMAT,
        "card_written_by": f"corpusfilter {__version__}",
        "run": {k: meta.get(k) for k in ("corpusfilter", "pyarrow", "python", "engine",
                                         "workers", "started", "finished", "fingerprint")},
        "pipeline": {"config": run.config, "stages": run.stage_entries},
        "models": _models(run),
        "inputs": inputs,
        "outputs": outputs,
        "records": records,
        "totals": {"input": run.stats.get("input"), "output": run.stats.get("output")},
        "removals": _removals(run),
        "verify": {"ok": rep.ok, "input_docs": rep.input_docs, "kept_docs": rep.kept_docs,
                   "removed_docs": rep.removed_docs, "copies": rep.copies,
                   "modified_rows": rep.modified_rows, "problems": rep.problems},
    }


def card_markdown(card: dict[str, Any]) -> str:
    """The card as a readable page."""
    run, tot, ver = card["run"], card["totals"], card["verify"]
    verified = ("OK, every input document is kept or removed exactly once" if ver["ok"]
                else "FAILED: " + "; ".join(ver["problems"]))
    lines = ["# Dataset provenance card", "",
             f"Written by {card['card_written_by']} from a run with corpusfilter "
             f"{run['corpusfilter']} (pyarrow {run['pyarrow']}, Python {run['python']}, "
             f"engine {run['engine']}), finished {run['finished']}.", "",
             f"**verify**: {verified}",
             "",
             f"Input: {tot['input']['docs']:,} documents in {len(card['inputs'])} shard(s); "
             f"output: {tot['output']['docs']:,} documents in {len(card['outputs'])} file(s).",
             "", "## Pipeline", "", "| stage | name@version | parameters |", "|---|---|---|"]
    for s in card["pipeline"]["stages"]:
        params = ", ".join(f"{k}={json.dumps(v)}" for k, v in s.get("params", {}).items())
        lines.append(f"| {s['label']} | {s['stage']}@{s['version']} | {params} |")
    if card["models"]:
        lines += ["", "## Models", ""]
        lines += [f"- {m['stage']}: " + ", ".join(f"{k} {v}" for k, v in m.items()
                                                   if k != "stage") for m in card["models"]]
    lines += ["", "## Removals per stage and group", "",
              "| stage | facet | value | in | removed | rate |", "|---|---|---|---:|---:|---:|"]
    for r in card["removals"]:
        if r["removed"]:
            lines.append(f"| {r['stage']} | {r['facet']} | {r['value']} | {r['in']:,} | "
                         f"{r['removed']:,} | {r['removed'] / r['in']:.1%} |")
    for title, key in (("Input shards", "inputs"), ("Output shards", "outputs"),
                       ("Run records", "records")):
        lines += ["", f"## {title}", "", "| file | rows | bytes | SHA-256 |", "|---|---:|---:|---|"]
        for f in card[key]:
            lines.append(f"| {f['path']} | {f.get('rows', '')} | {f['bytes']:,} | "
                         f"`{f['sha256']}` |")
    lines += ["", "Check a copy of the dataset with `corpusfilter card --check CARD.json DATA`.",
              ""]
    return "\n".join(lines)


def write_card(out: str | Path, path: str | Path) -> tuple[Path, Path]:
    """Write the card of run `out` to `path` (JSON; ``.json`` added if missing) and its
    markdown twin beside it (``.md``)."""
    from corpusfilter.io.shards import write_text_atomic

    card = build_card(out)
    p = Path(path)
    if p.suffix != ".json":
        p = p.with_name(p.name + ".json")
    p.parent.mkdir(parents=True, exist_ok=True)
    md = p.with_suffix(".md")
    write_text_atomic(json.dumps(card, indent=2, ensure_ascii=False) + "\n", p)
    write_text_atomic(card_markdown(card), md)
    return p, md


def check_card(card_path: str | Path, data: str | Path) -> list[str]:
    """Problems that keep `data` (a run directory or its ``data/`` directory) from being
    exactly the dataset the card describes; empty when it is."""
    try:
        card = json.loads(Path(card_path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CorpusFilterError(f"cannot read card {card_path}: {e}") from None
    if card.get("format") != CARD_FORMAT:
        raise CorpusFilterError(f"{card_path} is not a corpusfilter card (format "
                                f"{card.get('format')!r}, expected {CARD_FORMAT!r})")
    root = Path(data)
    if (root / "data").is_dir():
        root = root / "data"
    if not root.is_dir():
        raise CorpusFilterError(f"{data} is not a directory; pass the dataset directory (the "
                                f"run's data/ or the run directory)")
    problems = []
    described = {Path(f["path"]).name: f for f in card["outputs"]}
    for name, f in described.items():
        p = root / name
        if not p.exists():
            problems.append(f"{name}: missing")
        elif p.stat().st_size != f["bytes"]:
            problems.append(f"{name}: {p.stat().st_size:,} bytes, the card says {f['bytes']:,}")
        elif file_sha256(p) != f["sha256"]:
            problems.append(f"{name}: SHA-256 differs from the card (same size: changed bytes)")
    for p in sorted(root.iterdir()):
        if p.is_file() and p.name not in described:
            problems.append(f"{p.name}: not described by the card")
    return problems
