"""`Docs`: the view of one record batch that a stage works on."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pyarrow as pa

from corpusfilter.core.batches import Derived, set_column


@dataclass(frozen=True)
class Columns:
    """Names of the columns the pipeline relies on (configurable in the pipeline file)."""

    text: str = "text"
    id: str = "id"
    lang: str = "lang"


@dataclass
class Docs:
    """A batch of documents as a stage sees it.

    Wraps a `pyarrow.RecordBatch` (all columns, as they are at this point of the pipeline) and
    gives stages the few things they need: the text and id arrays, optional columns such as
    `lang`, and `count()` for stage-specific counters that end up in `stats.json` (the base
    classes count documents in/out themselves).
    """

    batch: pa.RecordBatch
    columns: Columns = field(default_factory=Columns)
    shard: str = ""
    counters: Counter[str] = field(default_factory=Counter)
    # character counts of the text when the caller knows them (the pipeline carries them from
    # stage to stage), so `text_chars` does not rescan the text
    known_text_chars: np.ndarray | None = field(default=None, repr=False, compare=False)
    # values derived from the text (prose text, words), shared by the stages that see the
    # same text (the pipeline carries them; see `Derived`)
    derived: Derived = field(default_factory=Derived, repr=False, compare=False)

    def __len__(self) -> int:
        return self.batch.num_rows

    @property
    def num_rows(self) -> int:
        return self.batch.num_rows

    @cached_property
    def text(self) -> pa.Array:
        """The text column (string or large_string, no nulls: the pipeline removed those)."""
        return self.batch.column(self.columns.text)

    @cached_property
    def ids(self) -> pa.Array:
        """Document ids as strings."""
        col = self.batch.column(self.columns.id)
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            col = col.cast(pa.string())
        return col

    @cached_property
    def texts(self) -> list[str]:
        """The text as Python strings: for the per-document loops that need them (measured)."""
        return self.text.to_pylist()

    @cached_property
    def text_chars(self) -> np.ndarray:
        """Characters (code points) of each document's text."""
        if self.known_text_chars is not None:
            return self.known_text_chars
        import pyarrow.compute as pc

        return pc.utf8_length(self.text).to_numpy(zero_copy_only=False).astype(np.int64)

    def has(self, name: str) -> bool:
        return name in self.batch.schema.names

    def column(self, name: str) -> pa.Array | None:
        """A column by name, or None when the batch has no such column."""
        if name not in self.batch.schema.names:
            return None
        return self.batch.column(name)

    @cached_property
    def lang(self) -> list[str | None] | None:
        """The per-document language (from the `lang` column, e.g. set by the `language`
        stage), or None when the batch has no language column."""
        col = self.column(self.columns.lang)
        if col is None:
            return None
        return col.to_pylist()

    def with_columns(self, columns: Mapping[str, pa.Array]) -> Docs:
        """The same documents with `columns` added or replaced (counters are shared)."""
        batch = self.batch
        for name, arr in columns.items():
            batch = set_column(batch, name, arr)
        same = self.columns.text not in columns
        return Docs(batch, self.columns, self.shard, self.counters,
                    self.known_text_chars if same else None,
                    self.derived if same else Derived())

    def count(self, key: str, n: int = 1) -> None:
        """Add `n` to a stage-specific counter (reported per stage in stats.json)."""
        if n:
            self.counters[key] += int(n)
