"""Input checks of the pipeline's first segment: required columns present and typed, ids not
null, text valid UTF-8, not null and within the size limit. Bad rows are removed by the
`input` stage with a ledger row naming shard and row (or stop the run, with
``on_invalid: error``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from corpusfilter.core.batches import decode_utf8, is_text_type, needs_plain_text, plain_text
from corpusfilter.core.config import PipelineConfig
from corpusfilter.core.docs import Columns
from corpusfilter.core.errors import InputError
from corpusfilter.core.ledger import REMOVED, Stats, ledger_rows

INPUT_STAGE = "input"


class InputChecks:
    """The checks for one pipeline's columns and settings (``max_doc_chars``, ``on_invalid``)."""

    def __init__(self, columns: Columns, config: PipelineConfig):
        self.columns = columns
        self.config = config

    def check_schema(self, schema: pa.Schema, shard: str) -> None:
        """Fail early, naming the shard, if required columns are missing or mistyped."""
        cols = self.columns
        for role, name in (("text", cols.text), ("id", cols.id)):
            if name not in schema.names:
                key = "text_column" if role == "text" else "id_column"
                raise InputError(f"column {name!r} not found (columns: "
                                 f"{', '.join(schema.names)}); set `{key}:` in the pipeline "
                                 f"file to the column holding the document {role}",
                                 shard=shard)
        t = schema.field(cols.text).type
        if not is_text_type(t):
            raise InputError(f"text column {cols.text!r} has type {t}, expected a string "
                             f"(string, large_string, string_view, binary, or a dictionary "
                             f"of these); set `text_column:` to the column holding the text",
                             shard=shard)
        it = schema.field(cols.id).type
        if pa.types.is_nested(it) or (pa.types.is_dictionary(it)
                                      and pa.types.is_nested(it.value_type)):
            raise InputError(f"id column {cols.id!r} has type {it}; an id is one string or "
                             f"integer per document: set `id_column:` to such a column",
                             shard=shard)

    def validate(self, batch: pa.RecordBatch, shard: str, first_row: int,
                  facets: Sequence[str], stats: Stats,
                  ) -> tuple[pa.RecordBatch, pa.Table | None, np.ndarray]:
        """Input checks: ids present, text valid UTF-8, not null, not over the size limit."""
        cols = self.columns
        n = batch.num_rows
        stats.data["input"]["docs"] += n
        ids = batch.column(cols.id)
        if ids.null_count:
            bad = int(np.flatnonzero(ids.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"id column {cols.id!r} is null; every document needs an id",
                             shard=shard, row=first_row + bad)
        text = batch.column(cols.text)
        if needs_plain_text(text.type):
            text = plain_text(text)
            batch = batch.set_column(batch.schema.get_field_index(cols.text), cols.text, text)
        reason = np.full(n, None, dtype=object)
        if pa.types.is_binary(text.type) or pa.types.is_large_binary(text.type):
            text, bad_utf8 = decode_utf8(text)
            for i in bad_utf8:
                reason[i] = "input.invalid_utf8"
            batch = batch.set_column(batch.schema.get_field_index(cols.text), cols.text, text)
        if text.null_count:
            null_mask = text.is_null().to_numpy(zero_copy_only=False)
            reason[null_mask & (reason == None)] = "input.null_text"  # noqa: E711
            text = text.fill_null("")
        chars = pc.utf8_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
        stats.data["input"]["chars"] += int(chars.sum())
        if self.config.max_doc_chars is not None:
            too_long = chars > self.config.max_doc_chars
            reason[too_long & (reason == None)] = "input.too_long"  # noqa: E711
        bad = reason != None  # noqa: E711
        keep = ~bad
        # counted for every batch: the input stage's `in` is the denominator of its rates
        stats.record_stage(INPUT_STAGE, batch, keep, np.zeros(n, bool), reason, chars, chars,
                           facets, {}, 0.0)
        if not bad.any():
            return batch, None, chars
        if self.config.on_invalid == "error":
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{reason[i]} (document id {ids[i].as_py()!r}); fix the input "
                             f"or set on_invalid: remove to record such rows as removed",
                             shard=shard, row=first_row + i)
        rows = np.flatnonzero(bad)
        threshold = np.full(n, np.nan)
        score = np.full(n, np.nan)
        if self.config.max_doc_chars is not None:
            long_rows = reason == "input.too_long"
            threshold[long_rows] = self.config.max_doc_chars
            score[long_rows] = chars[long_rows]
        detail = [{"row": first_row + int(i)} if bad[i] else None for i in range(n)]
        led = ledger_rows(batch=batch, ids=ids, rows=rows, action=REMOVED, shard=shard,
                          stage=INPUT_STAGE, reason=reason, score=score, threshold=threshold,
                          detail=detail, text_chars=chars, facets=facets)
        return batch.filter(pa.array(keep)), led, chars[keep]
