"""The `corpusfilter` command line."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path

import pyarrow as pa

from corpusfilter import __version__
from corpusfilter.core.config import PipelineConfig, load_config
from corpusfilter.core.errors import CorpusFilterError, RemovalAlarm

log = logging.getLogger("corpusfilter")


def _cmd_run(args: argparse.Namespace) -> int:
    from corpusfilter.engines.local import LocalEngine
    from corpusfilter.report.summary import print_summary

    if args.workers < 1 and args.engine == "local":
        raise CorpusFilterError(f"--workers must be at least 1, got {args.workers}")
    config = _config_with_flags(args)
    if args.engine == "ray":
        from corpusfilter.engines import ray_engine

        return ray_engine.run_cli(args, config)
    engine = LocalEngine(config, workers=args.workers, batch_size=args.batch_size,
                         progress=None if not args.no_progress else False)
    engine.run(args.inputs, args.output, overwrite=args.overwrite)
    if not args.quiet:
        print_summary(args.output)
    return 0


def _config_with_flags(args: argparse.Namespace) -> PipelineConfig:
    """The pipeline file with what the command line sets on top of it."""
    config = load_config(args.pipeline)
    if getattr(args, "score_all", False):
        config.record_scores = "all"
    for flag, key in (("output_format", "output_format"), ("text_column", "text_column"),
                      ("id_column", "id_column"), ("limit", "limit"),
                      ("max_rows_per_file", "max_rows_per_file"),
                      ("max_bytes_per_file", "max_bytes_per_file")):
        if getattr(args, flag, None) is not None:
            setattr(config, key, getattr(args, flag))
    # .py plugins are named relative to the working directory on the command line
    config.plugins = [*config.plugins, *(os.path.abspath(p) if p.endswith(".py") else p
                                         for p in getattr(args, "plugin", None) or [])]
    return config


def _cmd_validate(args: argparse.Namespace) -> int:
    """Check the pipeline file and every input's schema without running anything."""
    from corpusfilter.core.pipeline import Pipeline
    from corpusfilter.io.shards import expand_inputs, shard_keys, shard_schema

    config = _config_with_flags(args)
    pipeline = Pipeline(config)  # every stage, parameter and plugin
    shards = shard_keys(expand_inputs(args.inputs, config.storage_options))
    generated = []
    for s in shards:
        schema = shard_schema(s, config.storage_options)
        if config.id_column not in schema.names:
            generated.append(s.key)
            schema = schema.append(pa.field(config.id_column, pa.string()))
        pipeline.check_schema(schema, s.key)
    print(f"pipeline {config.source}: {len(pipeline.stages)} stage(s) "
          f"({', '.join(st.label for st in pipeline.stages)})")
    print(f"inputs: {len(shards)} shard(s), columns {config.text_column!r} (text) and "
          f"{config.id_column!r} (id) found")
    if generated:
        print(f"ids will be generated as <shard>:<row> for {len(generated)} shard(s) without "
              f"an {config.id_column!r} column: {', '.join(generated[:5])}")
    print("OK: nothing was run")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from corpusfilter.verify import verify

    rep = verify(args.output)
    print(f"input documents:   {rep.input_docs:,}")
    print(f"kept (data/):      {rep.kept_docs:,}")
    print(f"removed (ledger):  {rep.removed_docs:,}")
    if rep.copies:
        print(f"up-sampled copies: {rep.copies:,}")
    print(f"modified rows:     {rep.modified_rows:,}")
    if rep.ok:
        print("OK: every input document is kept or removed exactly once")
        return 0
    for p in rep.problems:
        print(f"VIOLATION: {p}")
    return 1


def _cmd_stages(args: argparse.Namespace) -> int:
    from corpusfilter.console import make_console
    from corpusfilter.core import registry
    from corpusfilter.core.config import recipe_names

    registry.load_plugins([os.path.abspath(p) if p.endswith(".py") else p
                           for p in args.plugin or []])
    for name in args.name:
        registry.get(name)  # an unknown name is an error naming the registered ones
    console = make_console()
    for name in registry.names():
        if args.name and name not in args.name:
            continue
        cls = registry.get(name)
        origin = registry.origin_of(cls)
        kind = f"{cls.kind}, plugin {origin}" if origin else cls.kind
        console.print(f"[bold]{name}[/bold]@{cls.version}  [dim]({kind})[/dim]")
        console.print(f"  {registry.summary_of(cls)}", highlight=False)
        for p in registry.params_of(cls):
            default = "required" if p.required else repr(p.default)
            expects = f"({p.expects}) " if p.expects else ""
            console.print(f"    [cyan]{p.name}[/cyan] = {default}  [dim]{expects}{p.doc}[/dim]",
                          highlight=False)
        console.print()
    console.print(f"recipes: {', '.join(recipe_names())}")
    console.print("every stage entry also takes: name (label in the ledger), max_removal_rate")
    return 0


def _positive(text: str) -> int:
    """A whole number of at least 1 (argparse type)."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20,
          "GIB": 2**30}


def _size(text: str) -> int:
    """A byte count: 1000000, 500KB, 256MB, 1GB (powers of 1000) or 64MiB (powers of 1024)."""
    t = text.strip().upper().replace(" ", "")
    digits = t.rstrip("KMGIB")
    unit = t[len(digits):]
    try:
        n = float(digits)
    except ValueError:
        n = -1
    if unit not in _UNITS or n <= 0:
        raise argparse.ArgumentTypeError(f"expected a size such as 256MB, 1GB or 64MiB, got "
                                         f"{text!r}")
    return max(1, int(n * _UNITS[unit]))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="corpusfilter",
                                description="Clean and filter text corpora, with an audit log.")
    p.add_argument("--version", action="version", version=f"corpusfilter {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", required=True)

    from corpusfilter.io.shards import OUTPUT_FORMATS

    r = sub.add_parser("run", help="run a pipeline over Parquet or JSON Lines shards")
    r.add_argument("pipeline", help="a pipeline YAML file or a built-in recipe name (default)")
    r.add_argument("inputs", nargs="+",
                   help="Parquet / JSON Lines files, directories or globs; paths or URLs")
    r.add_argument("-o", "--output", required=True, help="output directory or URL")
    r.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    r.add_argument("--batch-size", type=int, default=1000, help="documents per batch")
    r.add_argument("--engine", choices=["local", "ray"], default="local")
    r.add_argument("--address", default=None, help="Ray cluster address (engine ray)")
    r.add_argument("--score-all", action="store_true",
                   help="write every filter's scores for every document to OUT/scores/")
    r.add_argument("--output-format", choices=list(OUTPUT_FORMATS), default=None,
                   help="format of OUT/data (default parquet, or output_format: in the file)")
    r.add_argument("--plugin", action="append", metavar="MODULE|FILE.py",
                   help="import a module or .py file that registers stages (repeatable)")
    r.add_argument("--text-column", default=None, help="column holding the text")
    r.add_argument("--id-column", default=None,
                   help="column holding the document id (generated when absent)")
    r.add_argument("--limit", type=_positive, default=None, metavar="N",
                   help="a quick try: only the first N documents of the input (in shard "
                        "order); recorded in run.json, verify checks just those")
    r.add_argument("--max-rows-per-file", type=_positive, default=None, metavar="N",
                   help="split each shard's output into data/<shard>-00000.<ext>, ... of at "
                        "most N rows")
    r.add_argument("--max-bytes-per-file", type=_size, default=None, metavar="SIZE",
                   help="...and of at most SIZE of Arrow data before compression (e.g. 256MB)")
    r.add_argument("--overwrite", action="store_true", help="delete OUT first")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument("-q", "--quiet", action="store_true", help="no summary at the end")
    r.set_defaults(func=_cmd_run)

    c = sub.add_parser("validate", help="check a pipeline file and the inputs' schema "
                                        "without running")
    c.add_argument("pipeline", help="a pipeline YAML file or a built-in recipe name")
    c.add_argument("inputs", nargs="+", help="inputs, as for run")
    c.add_argument("--plugin", action="append", metavar="MODULE|FILE.py")
    c.add_argument("--text-column", default=None)
    c.add_argument("--id-column", default=None)
    c.set_defaults(func=_cmd_validate)

    v = sub.add_parser("verify", help="check that a finished run lost nothing")
    v.add_argument("output", help="the run's output directory or URL")
    v.set_defaults(func=_cmd_verify)

    s = sub.add_parser("stages", help="list registered stages, their parameters and defaults")
    s.add_argument("name", nargs="*", help="only these stages")
    s.add_argument("--plugin", action="append", metavar="MODULE|FILE.py",
                   help="also list the stages this module or .py file registers")
    s.set_defaults(func=_cmd_stages)

    for hook in _EXTRA_COMMANDS:
        hook(sub)
    return p


# Other modules (report, inspect, whatif) add their sub-commands here.
_EXTRA_COMMANDS: list = []


def _load_extra_commands() -> None:
    import importlib

    for mod in ("corpusfilter.report.cli", "corpusfilter.train_quality"):
        try:
            m = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        if m.add_commands not in _EXTRA_COMMANDS:
            _EXTRA_COMMANDS.append(m.add_commands)


def main(argv: list[str] | None = None) -> int:
    _load_extra_commands()
    args = build_parser().parse_args(argv)
    # our own messages at INFO; other libraries' (presidio, ray, ...) only when they warn
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    log.setLevel(logging.DEBUG if args.verbose else logging.INFO)
    try:
        return int(args.func(args) or 0)
    except RemovalAlarm as e:
        print(f"corpusfilter: stopped: {e}", file=sys.stderr)
        return 3
    except CorpusFilterError as e:
        print(f"corpusfilter: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", signal.SIGINT)
        where = getattr(e, "where", "")
        out = getattr(args, "output", None)
        hint = f"; rerun the same command to resume {out}" if out and Path(out).exists() else ""
        print(f"corpusfilter: interrupted by {signal.Signals(signum).name}"
              f"{' ' + where if where else ''}{hint}", file=sys.stderr)
        return 128 + signum


if __name__ == "__main__":
    sys.exit(main())
