"""Pipeline files: YAML (or a built-in recipe name) → a validated `PipelineConfig`.

Pipeline files come from users and may come from elsewhere, so YAML is read bounded: at most
`MAX_PIPELINE_BYTES` of text and `MAX_YAML_NODES` nodes once aliases are expanded (a
400-byte "billion laughs" alias bomb expands to ~10^9 nodes), no recursive aliases, and only
YAML's plain types (``safe_load``: ``!!python/object`` and other tags are refused). Every
top-level setting is then checked by `PipelineConfig.validate`, with a message naming the fix.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from corpusfilter.core.errors import ConfigError

DEFAULT_FACETS = ("source", "lang")
MAX_PIPELINE_BYTES = 1_000_000  # the built-in recipes are < 2 KB
MAX_YAML_NODES = 100_000  # after alias expansion; the default recipe has ~100


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
        limit: a quick try: only the first N documents of the input, in shard order
            (``--limit``; io/shards.py `limit_shards`). None: all of them.
        max_rows_per_file: split each shard's ``data/`` output into files of at most this
            many rows (``--max-rows-per-file``); None: one file per input shard.
        max_bytes_per_file: ...and of at most about this many bytes of Arrow data (before
            compression, so the files are smaller); None: no byte cap.
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
    limit: int | None = None
    max_rows_per_file: int | None = None
    max_bytes_per_file: int | None = None
    source: str = field(default="<dict>", compare=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every top-level setting; raise `ConfigError` naming the fix.

        Called on construction and again by code that changes settings afterwards (engines
        applying command-line options)."""
        where = self.source
        for key in ("text_column", "id_column", "lang_column"):
            v = getattr(self, key)
            if not isinstance(v, str) or not v:
                raise ConfigError(f"{where}: {key} must be a column name (a non-empty "
                                  f"string), got {v!r}")
        if self.text_column == self.id_column:
            raise ConfigError(f"{where}: text_column and id_column are both "
                              f"{self.text_column!r}; they must name different columns")
        if self.facets is not None and not (isinstance(self.facets, list)
                                            and all(isinstance(f, str) for f in self.facets)):
            raise ConfigError(f"{where}: facets must be a list of column names, e.g. "
                              f"[source, lang], got {self.facets!r}")
        rate = self.max_removal_rate
        if rate is not None and not (_is_number(rate) and 0 <= rate <= 1):
            raise ConfigError(f"{where}: max_removal_rate must be a fraction between 0 and 1 "
                              f"(default 0.9), or null to disable the alarm; got {rate!r}"
                              + _quoted_hint(rate))
        _check_count(where, "alarm_min_docs", self.alarm_min_docs, 0, "100", allow_none=False)
        _check_count(where, "max_doc_chars", self.max_doc_chars, 1, "10000000",
                     allow_none=True)
        if self.on_invalid not in ("remove", "error"):
            raise ConfigError(f"{where}: on_invalid must be 'remove' or 'error', got "
                              f"{self.on_invalid!r}")
        if self.record_scores not in ("none", "all"):
            raise ConfigError(f"{where}: record_scores must be 'none' or 'all', got "
                              f"{self.record_scores!r}")
        check_settings(self)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("source")
        return d

    def fingerprint(self) -> str:
        """A hash of everything that affects outputs (used to refuse resuming another run)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _quoted_hint(v: Any) -> str:
    return " (a string: write the number without quotes)" if isinstance(v, str) else ""


def _check_count(where: str, key: str, v: Any, least: int, default: str,
                 allow_none: bool) -> None:
    if v is None and allow_none:
        return
    if isinstance(v, int) and not isinstance(v, bool) and v >= least:
        return
    off = ", or null for no limit" if allow_none else ""
    raise ConfigError(f"{where}: {key} must be a whole number of at least {least} (default "
                      f"{default}){off}; got {v!r}" + _quoted_hint(v))


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML with the bounds of the module docstring; errors name `source`."""
    if len(text.encode("utf-8")) > MAX_PIPELINE_BYTES:
        raise ConfigError(f"{source} is larger than {MAX_PIPELINE_BYTES:,} bytes; a pipeline "
                          f"file lists stages and their parameters (put data in files)")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _count_nodes(node, source)
        return loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        raise ConfigError(_yaml_error(source, e)) from None
    finally:
        loader.dispose()


def _count_nodes(root: yaml.Node, source: str) -> int:
    """Nodes of the document with aliases expanded, without expanding them (memoised)."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ConfigError(f"{source}: an alias refers to a node that contains it "
                              f"(a recursive structure); pipeline files cannot use one")
        open_.add(key)
        n = 1
        if isinstance(node, yaml.SequenceNode):
            n += sum(size(c) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            n += sum(size(k) + size(v) for k, v in node.value)
        open_.discard(key)
        if n > MAX_YAML_NODES:
            raise ConfigError(f"{source}: expands to more than {MAX_YAML_NODES:,} YAML nodes "
                              f"through aliases (*name), which looks like an alias bomb; "
                              f"write the pipeline without such aliases")
        sizes[key] = n
        return n

    return size(root)


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
        if path.stat().st_size > MAX_PIPELINE_BYTES:
            raise ConfigError(f"pipeline file {text_spec} is larger than "
                              f"{MAX_PIPELINE_BYTES:,} bytes; is it the right file?")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise ConfigError(f"pipeline file {text_spec} is not UTF-8 text ({e})") from None
        except OSError as e:
            raise ConfigError(f"pipeline file {text_spec} cannot be read ({e})") from None
        data = load_yaml(text, f"pipeline file {text_spec}")
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
    data = load_yaml(
        resources.files("corpusfilter.recipes").joinpath(f"{text_spec}.yaml").read_text("utf-8"),
        f"recipe {text_spec}")
    return from_dict(data, source=f"recipe:{text_spec}")


def _yaml_error(source: str, e: yaml.YAMLError) -> str:
    """One line naming the file, line and column (PyYAML names a ``<unicode string>``)."""
    mark = getattr(e, "problem_mark", None)
    where = f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    context = getattr(e, "context", None)
    return (f"{source}{where}: invalid YAML: {problem}"
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
    for i, entry in enumerate(stages):
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: stages[{i}] is {entry!r}, not a stage entry; write "
                              f"`- stage: NAME` with its parameters indented below it")
    return PipelineConfig(**{**data, "stages": [dict(s) for s in stages]}, source=source)


def check_settings(cfg: PipelineConfig) -> None:
    """Checks of reach's settings (plugins, storage_options, output_format, limit, output
    file sizes); part of `PipelineConfig.validate`, so they also hold after a command line
    sets them."""
    from corpusfilter.io.fs import check_storage_options
    from corpusfilter.io.shards import OUTPUT_FORMATS

    source = cfg.source
    if not (isinstance(cfg.plugins, list) and all(isinstance(p, str) for p in cfg.plugins)):
        raise ConfigError(f"{source}: plugins must be a list of module names or .py files")
    cfg.storage_options = check_storage_options(cfg.storage_options, source)
    if cfg.output_format not in OUTPUT_FORMATS:
        raise ConfigError(f"{source}: output_format must be one of "
                          f"{', '.join(OUTPUT_FORMATS)}, got {cfg.output_format!r}")
    _check_count(source, "limit", cfg.limit, 1, "null", allow_none=True)
    _check_count(source, "max_rows_per_file", cfg.max_rows_per_file, 1,
                 "null", allow_none=True)
    _check_count(source, "max_bytes_per_file", cfg.max_bytes_per_file, 1,
                 "null", allow_none=True)
