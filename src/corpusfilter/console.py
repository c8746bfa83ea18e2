"""The rich console every command prints with, and the helpers that keep tables legible on
an 80-column terminal."""

from __future__ import annotations

import os
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table


def make_console() -> Console:
    """A console for stdout. On a terminal rich uses its width; otherwise (logs, CI, pipes)
    ``COLUMNS`` if set, else 140 so that tables do not wrap at rich's default of 80."""
    console = Console()
    if console.is_terminal or os.environ.get("COLUMNS"):
        return console
    return Console(width=140)


def column_groups(names: Sequence[str], width: int, fixed: int, cell: int = 11
                  ) -> list[list[str]]:
    """Split column headers into groups whose table fits in ``width`` characters.

    ``fixed``: the width the other columns take; each named column needs its full name (never
    truncated: ``gopher_quality`` and ``gopher_repetition`` must stay apart) or ``cell``
    characters, plus 3 for borders and padding.
    """
    groups: list[list[str]] = [[]]
    used = fixed
    for name in names:
        need = max(len(name), cell) + 3
        if groups[-1] and used + need > width:
            groups.append([])
            used = fixed
        groups[-1].append(name)
        used += need
    return groups


NARROW = 120  # below this many columns, tables drop their vertical rules


def table(console: Console, title: str) -> Table:
    """A left-titled table; on a narrow console without vertical rules (3 characters a
    column fewer), so that an 80-column terminal shows every column whole."""
    if console.width < NARROW:
        return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    return Table(title=title, title_justify="left")
