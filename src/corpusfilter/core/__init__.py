"""The core: the stage contract, the pipeline, the ledger and the registry."""

from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import (
    ConfigError,
    CorpusFilterError,
    InputError,
    RemovalAlarm,
    StageError,
)
from corpusfilter.core.stage import Filter, GlobalStage, Outcome, Rule, Stage, Transform

__all__ = [
    "ConfigError",
    "CorpusFilterError",
    "Docs",
    "Filter",
    "GlobalStage",
    "InputError",
    "Outcome",
    "RemovalAlarm",
    "Rule",
    "Stage",
    "StageError",
    "Transform",
]
