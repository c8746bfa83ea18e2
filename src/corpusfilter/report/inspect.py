"""`corpusfilter inspect`: removed documents of a stage (and reason, and group) with their
scores, read back from the input shards and redacted of personal data before printing.

The text is redacted with the `pii` stage (Presidio's recognizers) when it can be set up; if
not, a conservative regex pass masks emails, phone-like digit runs, card-like digit runs and
IP addresses, and the output says which was used.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.errors import CorpusFilterError
from corpusfilter.report.data import NONE_VALUE, Run

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}[0-9A-Fa-f]{0,4}\b")
# any run of 7+ digits, possibly separated by spaces, dots, dashes, slashes or parentheses:
# phone numbers, card numbers, account numbers (conservative: also masks some dates/ids)
_DIGITS = re.compile(r"\+?\(?\d(?:[\s().\-/]{0,2}\d){6,}")


def regex_redact(text: str) -> str:
    """Conservative fallback redaction: emails, IPs, and long digit runs."""
    text = _EMAIL.sub("<EMAIL_ADDRESS>", text)
    text = _IPV4.sub("<IP_ADDRESS>", text)
    text = _IPV6.sub("<IP_ADDRESS>", text)
    return _DIGITS.sub("<NUMBER>", text)


class Redactor:
    """Redacts texts with the `pii` stage if available, else with `regex_redact`."""

    def __init__(self) -> None:
        self.method = "regex (emails, IPs, runs of 7+ digits)"
        self._stage: Any = None
        quiet = [logging.getLogger(n) for n in ("presidio-analyzer", "presidio_analyzer")]
        levels = [lg.level for lg in quiet]
        try:
            from corpusfilter.core import registry

            for lg in quiet:
                lg.setLevel(logging.WARNING)
            stage = registry.build({"stage": "pii", "mode": "redact"})
            stage.setup()
            self._stage = stage
            self.method = "pii stage (its default rules: e-mail, phone, card, IBAN, IP, ...; docs/pii.md)"
        except Exception:  # any failure falls back to the regex pass
            self._stage = None
        finally:
            for lg, level in zip(quiet, levels, strict=True):
                lg.setLevel(level)

    def __call__(self, texts: Sequence[str]) -> list[str]:
        if self._stage is None or not texts:
            return [regex_redact(t) for t in texts]
        from corpusfilter.core.docs import Docs

        docs = Docs(pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(texts))],
                                                "text": pa.array(list(texts), pa.string())}))
        out = self._stage.transform(docs)
        redacted = list(texts) if out.text is None else out.text.to_pylist()
        # belt and braces: emails and IPs the recognizers rejected are masked as well
        return [_IPV4.sub("<IP_ADDRESS>", _EMAIL.sub("<EMAIL_ADDRESS>", t)) for t in redacted]


@dataclass
class Sample:
    doc_id: str
    stage: str
    reason: str | None
    score: float | None
    threshold: float | None
    detail: dict[str, Any] | None
    facets: dict[str, str]
    text: str | None
    scores: dict[str, float]


def parse_where(items: Sequence[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CorpusFilterError(f"--where {item!r}: expected COLUMN=VALUE, e.g. lang=sw")
        out[key.strip()] = value.strip()
    return out


def samples(run: Run, stage: str, reason: str | None = None,
            where: Mapping[str, str] | None = None, n: int = 5,
            action: str = "removed") -> tuple[list[Sample], int]:
    """Up to `n` ledger rows of `stage` (ordered by doc id) and how many matched in all."""
    led = run.ledger
    stages = sorted(set(led["stage"].to_pylist())) if led.num_rows else []
    known = [s for s in run.stage_labels()]
    if stage not in known:
        raise CorpusFilterError(f"--stage {stage!r}: no such stage in this run (stages: "
                                f"{', '.join(known)})")
    m = pc.and_(pc.equal(led["stage"], stage), pc.equal(led["action"], action))
    if reason:
        full = reason if "." in reason else f"{stage}.{reason}"
        reasons = set(led.filter(pc.equal(led["stage"], stage))["reason"].to_pylist())
        if full not in reasons:
            raise CorpusFilterError(f"--reason {reason!r}: stage {stage} has no such reason in "
                                    f"this run (reasons: {', '.join(sorted(map(str, reasons))) or 'none'})")
        m = pc.and_(m, pc.equal(led["reason"], full))
    for col, value in (where or {}).items():
        if col not in led.column_names or col not in run.facets:
            raise CorpusFilterError(f"--where {col}=...: {col!r} is not a facet of this run "
                                    f"(facets: {', '.join(run.facets) or 'none'})")
        colv = led[col].cast(pa.string()).fill_null(NONE_VALUE)
        m = pc.and_(m, pc.equal(colv, value))
    sub = led.filter(m).sort_by("doc_id")
    total = sub.num_rows
    sub = sub.slice(0, n)
    ids = [str(x) for x in sub["doc_id"].to_pylist()]
    texts = texts_of(run, ids)
    scores = _scores(run, ids, stage)
    out = []
    for row in sub.to_pylist():
        did = str(row["doc_id"])
        out.append(Sample(
            doc_id=did, stage=stage, reason=row["reason"], score=row["score"],
            threshold=row["threshold"],
            detail=json.loads(row["detail"]) if row["detail"] else None,
            facets={f: row.get(f) or NONE_VALUE for f in run.facets},
            text=texts.get(did), scores=scores.get(did, {})))
    del stages
    return out, total


def texts_of(run: Run, ids: list[str]) -> dict[str, str]:
    """The input text of the given documents (from the shards listed in run.json)."""
    if not ids:
        return {}
    cfg = run.config
    id_col, text_col = cfg.get("id_column", "id"), cfg.get("text_column", "text")
    found: dict[str, str] = {}
    wanted = pa.array(ids, pa.string())
    from corpusfilter.core.errors import InputError
    from corpusfilter.io.shards import Shard, read_input_columns

    for inp in run.meta.get("inputs", []):
        try:
            t = read_input_columns(Shard(inp["path"], inp["shard"]), [text_col], id_col,
                                   cfg.get("storage_options"))
        except (OSError, pa.ArrowInvalid, InputError):
            continue
        col = t[id_col].cast(pa.string())
        t = t.filter(pc.is_in(col, value_set=wanted))
        for i, x in zip(t[id_col].cast(pa.string()).to_pylist(), t[text_col].to_pylist(),
                        strict=True):
            found[i] = x.decode("utf-8", "replace") if isinstance(x, bytes) else x
        if len(found) == len(ids):
            break
    return found


def _scores(run: Run, ids: list[str], stage: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    if not ids or not run.has_scores:
        return out
    s = run.scores
    s = s.filter(pc.is_in(s["doc_id"], value_set=pa.array(ids, pa.string())))
    for row in s.to_pylist():
        out.setdefault(row["doc_id"], {})[f"{row['stage']}.{row['metric']}"] = row["value"]
    return out


def print_samples(run: Run, found: list[Sample], total: int, chars: int = 600,
                  console: Any = None) -> None:
    from rich.markup import escape

    from corpusfilter.console import make_console

    console = console or make_console()
    if not found:
        console.print("no matching removed documents")
        return
    redact = Redactor()
    texts = redact([s.text or "" for s in found])
    console.print(f"{len(found)} of {total:,} matching documents; text redacted with "
                  f"{redact.method}", highlight=False)
    for s, text in zip(found, texts, strict=True):
        facets = " ".join(f"{k}={v}" for k, v in s.facets.items())
        head = f"[bold]{escape(s.doc_id)}[/bold]  {escape(facets)}  [red]{escape(str(s.reason))}[/red]"
        if s.score is not None:
            head += f"  score {s.score:g}"
            if s.threshold is not None:
                head += f" vs threshold {s.threshold:g}"
        console.print(head)
        if s.detail:
            console.print(f"  detail: {escape(json.dumps(s.detail, ensure_ascii=False)[:300])}",
                          highlight=False)
        if s.scores:
            console.print("  scores: " + escape(", ".join(f"{k}={v:g}"
                                                         for k, v in sorted(s.scores.items()))),
                          highlight=False)
        if s.text is None:
            console.print("  [dim](text not found: input shards moved or unreadable)[/dim]")
        else:
            cut = text[:chars] + (" …" if len(text) > chars else "")
            console.print("  " + escape(cut.replace("\n", " ⏎ ")), highlight=False)
        console.print()
