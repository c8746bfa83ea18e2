"""Errors that reach users: each says what went wrong, where, and what to do."""

from __future__ import annotations


class CorpusFilterError(Exception):
    """Base class of every error corpusfilter raises on purpose."""


class ConfigError(CorpusFilterError):
    """A pipeline file, recipe or stage parameter is invalid."""


class InputError(CorpusFilterError):
    """A shard or a row of the input cannot be processed as given.

    The message names the shard (and the row where one is at fault).
    """

    def __init__(self, message: str, shard: str | None = None, row: int | None = None):
        where = ""
        if shard is not None:
            where = f"shard {shard}"
            if row is not None:
                where += f", row {row}"
            where += ": "
        super().__init__(where + message)
        self.shard = shard
        self.row = row


class RemovalAlarm(CorpusFilterError):
    """A stage removed more than its allowed fraction of the documents it saw."""


class StageError(CorpusFilterError):
    """A stage failed on a batch; wraps the original exception with its location."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped a run; `where` says how far it got (for the message).

    A `KeyboardInterrupt` so that code which already cleans up on Ctrl-C does so on SIGTERM;
    the command line exits with ``128 + signum`` (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, signum: int, where: str = ""):
        super().__init__(signum, where)
        self.signum = signum
        self.where = where
