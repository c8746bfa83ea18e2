"""`Memo`: the one bounded memo of the package (stop-word lists per language, the id index of
the plan a dedup stage last applied, ...).

Why not `functools.lru_cache`: a memo held by a stage must travel with the stage to worker
processes without its values (a pickled memo arrives empty: values can be large or
unpicklable), and a memo keyed by an object's identity must hold the object so that its `id`
cannot be reused by another while the entry lives.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Memo(Generic[K, V]):
    """The values of the `size` most recently used keys (least recently used dropped first).

    Thread-safe; `compute` runs outside the lock (two threads may compute the same value
    once each, never a wrong one). Pickles empty."""

    def __init__(self, size: int = 128):
        if size < 1:
            raise ValueError(f"a memo holds at least one value, got size {size}")
        self.size = size
        self._values: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
            self._values.move_to_end(key)
            while len(self._values) > self.size:
                self._values.popitem(last=False)
        return value

    def by_identity(self, obj: Any, compute: Callable[[], V]) -> V:
        """The value for this very object (not an equal one): the entry holds `obj`, so its
        `id` stays its own while the entry lives."""
        held: tuple[Any, V] = self.get(id(obj), lambda: (obj, compute()))  # type: ignore[arg-type]
        return held[1]

    def __len__(self) -> int:
        return len(self._values)

    def __getstate__(self) -> dict[str, Any]:
        return {"size": self.size}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["size"])  # type: ignore[misc]
