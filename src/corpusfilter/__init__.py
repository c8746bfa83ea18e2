"""corpusfilter: composable, fast, accountable cleaning and filtering of pretraining corpora.

Quick use in a script::

    import corpusfilter as cf
    result = cf.Pipeline.load("default").run(table)   # pyarrow.Table, DataFrame, Parquet path
    result.kept, result.ledger, result.stats
"""

__version__ = "0.1.0"

from corpusfilter.core.config import PipelineConfig, load_config  # noqa: E402
from corpusfilter.core.docs import Docs  # noqa: E402
from corpusfilter.core.errors import (  # noqa: E402
    ConfigError,
    CorpusFilterError,
    InputError,
    RemovalAlarm,
)
from corpusfilter.core.pipeline import Pipeline, RunResult  # noqa: E402
from corpusfilter.core.registry import register  # noqa: E402
from corpusfilter.core.stage import Filter, GlobalStage, Outcome, Rule, Stage, Transform  # noqa: E402

__all__ = [
    "ConfigError",
    "CorpusFilterError",
    "Docs",
    "Filter",
    "GlobalStage",
    "InputError",
    "Outcome",
    "Pipeline",
    "PipelineConfig",
    "RemovalAlarm",
    "Rule",
    "RunResult",
    "Stage",
    "Transform",
    "__version__",
    "load_config",
    "register",
]
