"""The rich console every command prints with."""

from __future__ import annotations

from rich.console import Console


def make_console() -> Console:
    """A console for stdout; when stdout is not a terminal (logs, CI, pipes) it is wide
    enough that tables do not wrap at rich's default of 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=140)
