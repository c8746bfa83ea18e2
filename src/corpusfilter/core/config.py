"""Pipeline files: YAML (or a built-in recipe name) → a validated `PipelineConfig`."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from corpusfilter.core.errors import ConfigError

DEFAULT_FACETS = ("source", "lang")


@dataclass
class PipelineConfig:
    """A pipeline as written in its file, after validation of the top-level keys.

    Args:
        stages: the list of stage entries (``{"stage": name, **params}``).
        text_column: column holding the document text.
        id_column: column holding the unique document id.
        lang_column: column stages read the document language from (the `language` stage
            writes it).
        facets: columns copied into the ledger and counted per value for the report. Default:
            ``source`` and ``lang`` where present.
        max_removal_rate: a stage removing more than this fraction of what it sees stops the
            run (the alarm for a misconfigured filter); per stage overridable; None disables.
        alarm_min_docs: the alarm only fires once a stage has seen this many documents.
        max_doc_chars: documents longer than this are removed up front with reason
            ``input.too_long`` (None: no limit).
        on_invalid: ``remove`` records null / non-UTF-8 text as removed with an ``input.*``
            reason; ``error`` stops the run naming the shard and row.
        record_scores: ``none``, or ``all`` to write every filter's scores for every document
            (including those removed earlier) to ``scores/``, for independent removal rates
            and what-if analysis.
        plugins: modules (``my_pkg.stages``) or ``.py`` files imported before the stages are
            built, so the stages they register can be named (docs/writing-a-stage.md).
        storage_options: per URL scheme, keyword arguments of that file system (``s3:
            {region: eu-west-1}``); no credentials (io/fs.py).
        output_format: ``data/`` as ``parquet`` (default), ``jsonl``, ``jsonl.gz`` or
            ``jsonl.zst``.
    """

    stages: list[dict[str, Any]]
    text_column: str = "text"
    id_column: str = "id"
    lang_column: str = "lang"
    facets: list[str] | None = None
    max_removal_rate: float | None = 0.9
    alarm_min_docs: int = 100
    max_doc_chars: int | None = 10_000_000
    on_invalid: str = "remove"
    record_scores: str = "none"
    plugins: list[str] = field(default_factory=list)
    storage_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    output_format: str = "parquet"
    source: str = field(default="<dict>", compare=False)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        return d

    def fingerprint(self) -> str:
        """A hash of everything that affects outputs (used to refuse resuming another run)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def recipe_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("corpusfilter.recipes").iterdir()
                  if p.name.endswith(".yaml"))


def load_config(spec: str | Path | dict[str, Any] | PipelineConfig) -> PipelineConfig:
    """Load a pipeline from a YAML path, a built-in recipe name, or a dict."""
    if isinstance(spec, PipelineConfig):
        return spec
    if isinstance(spec, dict):
        return from_dict(spec, source="<dict>")
    text_spec = str(spec)
    path = Path(text_spec)
    if path.suffix in (".yaml", ".yml") or path.exists():
        if not path.exists():
            raise ConfigError(f"pipeline file {text_spec} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as e:
            raise ConfigError(_yaml_error(text_spec, e)) from None
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"pipeline file {text_spec} cannot be read ({e})") from None
        cfg = from_dict(data, source=str(path))
        # plugin files are named relative to the pipeline file, as a reader would expect
        cfg.plugins = [str((path.parent / p).resolve()) if p.endswith(".py") else p
                       for p in cfg.plugins]
        return cfg
    names = recipe_names()
    if text_spec not in names:
        hint = difflib.get_close_matches(text_spec, names, n=1)
        raise ConfigError(
            f"{text_spec!r} is neither a pipeline file nor a built-in recipe"
            + (f" (did you mean {hint[0]!r}?)" if hint else "")
            + f"; recipes: {', '.join(names)}")
    data = yaml.safe_load(
        resources.files("corpusfilter.recipes").joinpath(f"{text_spec}.yaml").read_text("utf-8"))
    return from_dict(data, source=f"recipe:{text_spec}")


def _yaml_error(name: str, e: yaml.YAMLError) -> str:
    """One line naming the file, line and column (PyYAML names a ``<unicode string>``)."""
    mark = getattr(e, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    return (f"pipeline file {name}{where}: invalid YAML: {problem}"
            + (f" ({context})" if context else "")
            + "; check the indentation and the `key: value` pairs around it")


def from_dict(data: Any, source: str) -> PipelineConfig:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a pipeline file is a mapping with a `stages:` list")
    valid = {f.name for f in fields(PipelineConfig)} - {"source"}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {', '.join(map(repr, unknown))}; "
                          f"valid keys: {', '.join(sorted(valid))}")
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        raise ConfigError(f"{source}: `stages:` must be a non-empty list of stage entries")
    cfg = PipelineConfig(**{**data, "stages": [dict(s) if isinstance(s, dict) else s
                                              for s in stages]}, source=source)
    if cfg.on_invalid not in ("remove", "error"):
        raise ConfigError(f"{source}: on_invalid must be 'remove' or 'error'")
    if cfg.record_scores not in ("none", "all"):
        raise ConfigError(f"{source}: record_scores must be 'none' or 'all'")
    if cfg.facets is not None and not (isinstance(cfg.facets, list)
                                       and all(isinstance(f, str) for f in cfg.facets)):
        raise ConfigError(f"{source}: facets must be a list of column names")
    check_settings(cfg)
    return cfg


def check_settings(cfg: PipelineConfig) -> None:
    """Checks of the settings a command line may also set (after from_dict or a flag)."""
    from corpusfilter.io.fs import check_storage_options
    from corpusfilter.io.shards import OUTPUT_FORMATS

    source = cfg.source
    if not (isinstance(cfg.plugins, list) and all(isinstance(p, str) for p in cfg.plugins)):
        raise ConfigError(f"{source}: plugins must be a list of module names or .py files")
    cfg.storage_options = check_storage_options(cfg.storage_options, source)
    if cfg.output_format not in OUTPUT_FORMATS:
        raise ConfigError(f"{source}: output_format must be one of "
                          f"{', '.join(OUTPUT_FORMATS)}, got {cfg.output_format!r}")
