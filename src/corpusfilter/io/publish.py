"""Runs whose output is a URL (``-o s3://bucket/run``): staged locally, published with a
commit marker written last.

Object stores have no atomic rename, so the engines do not work in place there. A run writes
its units, plans and final files into a local staging directory (resumable exactly as a local
run), then publishes them:

1. ``OUT/_publishing.json`` (the run's fingerprint) — claims the prefix for this run;
2. every file of ``data/``, ``ledger/``, ``scores/`` and ``stats.json`` — each object
   appears whole or not at all;
3. ``OUT/run.json`` last: **the commit point**. `verify`, `report` and a rerun take a run as
   done only when it is there; then the claim is removed and the staging directory deleted.

A kill at any moment leaves either an unfinished staging directory (the rerun resumes it) or
a claimed prefix without ``run.json`` (the rerun publishes again, overwriting). The staging
directory is ``$CORPUSFILTER_STAGING/<hash of the URL>`` (default ``~/.cache/corpusfilter/
staging``); the Ray engine on several nodes needs it on a file system they share.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import xxhash

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.io import fs

log = logging.getLogger("corpusfilter")

CLAIM = "_publishing.json"
COMMIT = "run.json"
PUBLISHED = ("data", "ledger", "scores")


def staging_dir(target: str) -> Path:
    base = os.environ.get("CORPUSFILTER_STAGING") or os.path.join(
        os.path.expanduser("~"), ".cache", "corpusfilter", "staging")
    return Path(base) / xxhash.xxh64_hexdigest(target.encode())


def _read_json(location: str, storage: dict | None) -> dict[str, Any] | None:
    if not fs.exists(location, storage):
        return None
    return json.loads(fs.read_bytes(location, storage))


def run_staged(target: str, fingerprint: str, overwrite: bool, storage: dict | None,
               run_local: Callable[[Path], dict[str, Any]],
               check_complete: Callable[[dict[str, Any]], None] | None = None
               ) -> dict[str, Any]:
    """Run into the staging directory with ``run_local`` and publish to ``target``.

    The caller holds the staging directory's lock; ``run_local`` empties it on ``overwrite``
    (all but the lock). ``check_complete`` sees a complete run already at ``target`` and
    raises if it cannot stand for this one (its input changed since)."""
    committed = _read_json(fs.join(target, COMMIT), storage)
    claim = _read_json(fs.join(target, CLAIM), storage)
    previous = (committed or claim or {}).get("fingerprint")
    if overwrite:
        fs.delete(target, storage)
    elif previous is not None and previous != fingerprint:
        raise CorpusFilterError(f"{target} holds a run of a different pipeline or input; choose "
                                f"another location or pass --overwrite to start again")
    elif previous is None and fs.list_files(target, storage):
        raise CorpusFilterError(f"{target} is not empty and holds no corpusfilter run; choose "
                                f"another location or pass --overwrite")
    elif committed is not None and committed.get("status") == "complete" and claim is None:
        if check_complete is not None:
            check_complete(committed)
        log.info("%s already holds a complete run of this pipeline; nothing to do", target)
        return json.loads(fs.read_bytes(fs.join(target, "stats.json"), storage))
    local = staging_dir(target)
    log.info("staging the run in %s", local)
    stats = run_local(local)
    publish(local, target, fingerprint, storage)
    shutil.rmtree(local, ignore_errors=True)
    return stats


def publish(local: Path, target: str, fingerprint: str, storage: dict | None) -> None:
    """Upload a finished local run; ``run.json`` goes last (the commit point)."""
    fs.write_bytes(json.dumps({"fingerprint": fingerprint}).encode(), fs.join(target, CLAIM),
                   storage)
    files = [p for name in PUBLISHED for p in sorted((local / name).rglob("*"))
             if p.is_file()] + [local / "stats.json"]
    for p in files:
        if p.is_file() and not p.name.startswith("."):
            fs.upload(str(p), fs.join(target, *p.relative_to(local).parts), storage)
    if not (local / COMMIT).is_file():
        raise CorpusFilterError(f"staged run in {local} has no {COMMIT}; rerun the command")
    fs.upload(str(local / COMMIT), fs.join(target, COMMIT), storage)
    fs.delete(fs.join(target, CLAIM), storage)
    log.info("published the run to %s", target)
