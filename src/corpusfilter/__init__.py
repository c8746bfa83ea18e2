"""corpusfilter: composable, fast, accountable cleaning and filtering of pretraining corpora.

Quick use in a script::

    import corpusfilter as cf
    result = cf.Pipeline.load("default").run(table)   # pyarrow.Table, DataFrame, Parquet path
    result.kept, result.ledger, result.stats
"""

__version__ = "0.1.0"

from corpusfilter.core.config import PipelineConfig, load_config
from corpusfilter.core.docs import Docs
from corpusfilter.core.errors import (
    ConfigError,
    CorpusFilterError,
    InputError,
    RemovalAlarm,
)
from corpusfilter.core.params import (
    ColumnName,
    Count,
    Fraction,
    LangCode,
    NonNegative,
    Positive,
)
from corpusfilter.core.pipeline import Pipeline, RunResult
from corpusfilter.core.registry import register
from corpusfilter.core.stage import Filter, GlobalStage, Outcome, Rule, Stage, Transform

__all__ = [
    "ColumnName",
    "ConfigError",
    "CorpusFilterError",
    "Count",
    "Docs",
    "Filter",
    "Fraction",
    "GlobalStage",
    "InputError",
    "LangCode",
    "NonNegative",
    "Outcome",
    "Pipeline",
    "PipelineConfig",
    "Positive",
    "RemovalAlarm",
    "Rule",
    "RunResult",
    "Stage",
    "Transform",
    "__version__",
    "load_config",
    "register",
]
