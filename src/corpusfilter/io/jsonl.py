"""JSON Lines shards (plain, gzip, zstd): the format of dolma, datatrove's readers and most
web-crawl dumps.

One JSON object per line; blank lines are skipped. Nested objects (``metadata: {...}``)
become Arrow struct columns and are written back as nested objects, so they pass through a
run unchanged. pyarrow's reader infers one schema over the whole file; a line that is not an
object, or a field whose type changes between lines, is an error naming the line.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson

from corpusfilter.core.errors import InputError

# Bytes per parse block: large blocks keep pyarrow's inference to few, wide passes.
_BLOCK = 16 << 20


def read_jsonl(data: bytes, name: str) -> pa.Table:
    """Parse decompressed JSON Lines; a malformed line raises `InputError` naming it."""
    try:
        return pajson.read_json(pa.BufferReader(data),
                                read_options=pajson.ReadOptions(block_size=_BLOCK))
    except pa.ArrowInvalid as e:
        row, message = _locate(data, str(e))
        raise InputError(message, shard=name, row=row) from None


def _locate(data: bytes, arrow_message: str) -> tuple[int | None, str]:
    """The first line that is not a JSON object (pyarrow counts rows per block), as
    (row, message); rows count documents from 0, lines count from 1 including blank ones."""
    row = 0
    for lineno, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except UnicodeDecodeError:
            return row, f"line {lineno} is not UTF-8 text; JSON Lines must be UTF-8"
        except ValueError as e:
            return row, f"line {lineno} is not valid JSON ({e.msg}); fix or remove the line"
        if not isinstance(value, dict):
            return row, (f"line {lineno}: a JSON Lines document must be an object, got "
                         f"{type(value).__name__}")
        row += 1
    # Every line parses alone: the types clash between lines.
    return None, f"{arrow_message.removeprefix('JSON parse error: ')} (JSON Lines)"


def _default(value: Any) -> Any:
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):  # JSON has no bytes: base64, as Arrow's own JSON export does
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps_jsonl(table: pa.Table) -> bytes:
    """A table as JSON Lines: one compact object per row, keys in column order, UTF-8."""
    lines = [json.dumps(row, ensure_ascii=False, separators=(",", ":"), default=_default)
             for row in table.to_pylist()]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""
