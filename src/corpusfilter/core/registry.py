"""Registry of stages under stable, versioned names.

A stage class registers itself with `@register`; a pipeline file names it (``gopher_quality``
for the newest version, ``gopher_quality@1`` to pin one). Built-in stages live in the
`filters`, `dedup` and `balance` packages and are imported on first use, so adding a stage is
adding one module.

Stages from other packages (plugins) come in two ways: an installed distribution declares an
entry point in the ``corpusfilter.stages`` group (a module, or ``module:Class``), loaded with
the built-ins; or a pipeline file's ``plugins:`` list / ``run --plugin`` names a module or a
``.py`` file, imported before the stages are built (in every worker too).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import inspect
import os
import pkgutil
import re
import sys
from dataclasses import dataclass
from typing import Any

from corpusfilter.core.errors import ConfigError
from corpusfilter.core.params import annotations_of, expectation
from corpusfilter.core.stage import Stage

_REGISTRY: dict[str, dict[int, type[Stage]]] = {}
_BUILTIN_PACKAGES = ("corpusfilter.filters", "corpusfilter.dedup", "corpusfilter.balance")
ENTRY_POINT_GROUP = "corpusfilter.stages"
_loaded = False
_plugins: dict[str, str] = {}  # plugin spec → module name, once imported

# Keys every stage entry of a pipeline file may carry besides its own parameters.
GENERIC_KEYS = {
    "stage": "the registered stage name (optionally name@version)",
    "name": "a label for this stage instance in the ledger (default: the stage name)",
    "max_removal_rate": "stop the run if this stage removes a larger fraction of what it sees",
}


def register(cls: type[Stage]) -> type[Stage]:
    """Class decorator: register a stage under ``cls.name`` and ``cls.version``."""
    if not cls.name or not re.fullmatch(r"[a-z][a-z0-9_]*", cls.name):
        raise ValueError(f"stage {cls.__qualname__} needs a snake_case `name`, got {cls.name!r}")
    versions = _REGISTRY.setdefault(cls.name, {})
    existing = versions.get(cls.version)
    if existing is not None and existing.__qualname__ != cls.__qualname__:
        raise ValueError(f"stage {cls.name}@{cls.version} registered twice "
                         f"({existing.__module__}.{existing.__qualname__} and "
                         f"{cls.__module__}.{cls.__qualname__})")
    versions[cls.version] = cls
    return cls


def load_builtin() -> None:
    """Import every built-in stage module once (each registers its stages)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for pkg_name in _BUILTIN_PACKAGES:
        try:
            pkg = importlib.import_module(pkg_name)
        except ModuleNotFoundError:
            continue
        for mod in pkgutil.iter_modules(pkg.__path__):
            if not mod.name.startswith("_"):
                importlib.import_module(f"{pkg_name}.{mod.name}")
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        try:
            obj = ep.load()
        except Exception as e:
            raise ConfigError(f"plugin {ep.name!r} ({ep.value}, from the installed package "
                              f"{dist}) failed to load: {type(e).__name__}: {e}; fix or "
                              f"uninstall that package") from None
        if inspect.isclass(obj) and issubclass(obj, Stage):
            register(obj)


def load_plugins(specs: list[str]) -> None:
    """Import plugin modules (``pkg.mod``) or files (``path/stages.py``); each registers its
    stages with `@register`."""
    for spec in specs:
        if spec in _plugins:
            continue
        if spec.endswith(".py") or os.sep in spec:
            path = os.path.abspath(spec)
            if not os.path.isfile(path):
                raise ConfigError(f"plugin file {spec} does not exist")
            name = "corpusfilter_plugin_" + re.sub(r"\W", "_", os.path.basename(path)[:-3])
            module_spec = importlib.util.spec_from_file_location(name, path)
            assert module_spec is not None and module_spec.loader is not None
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module  # so stages and plans defined there can be pickled
            try:
                module_spec.loader.exec_module(module)
            except Exception:
                del sys.modules[name]
                raise
        else:
            try:
                importlib.import_module(spec)
            except ModuleNotFoundError as e:
                if e.name is None or not spec.startswith(e.name):
                    raise
                raise ConfigError(f"plugin module {spec!r} not found; install the package that "
                                  f"provides it, put it on PYTHONPATH, or name a .py file") from None
            name = spec
        _plugins[spec] = name


def origin_of(cls: type[Stage]) -> str | None:
    """The plugin module a stage comes from, or None for a built-in stage."""
    return None if cls.__module__.startswith("corpusfilter.") else cls.__module__


def names() -> list[str]:
    load_builtin()
    return sorted(_REGISTRY)


def get(spec: str) -> type[Stage]:
    """The stage class for ``name`` (newest version) or ``name@version``."""
    load_builtin()
    name, _, ver = spec.partition("@")
    if name not in _REGISTRY:
        hint = difflib.get_close_matches(name, _REGISTRY, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"unknown stage {name!r}{did_you_mean}; registered stages: "
                          f"{', '.join(sorted(_REGISTRY))}. A stage from another package: "
                          f"install it (entry point {ENTRY_POINT_GROUP}), or name its module "
                          f"or .py file in `plugins:` or with run --plugin")
    versions = _REGISTRY[name]
    if not ver:
        return versions[max(versions)]
    try:
        return versions[int(ver.lstrip("v"))]
    except (ValueError, KeyError):
        raise ConfigError(f"stage {name!r} has no version {ver!r}; versions: "
                          f"{', '.join(str(v) for v in sorted(versions))}") from None


@dataclass(frozen=True)
class Param:
    name: str
    default: Any
    required: bool
    doc: str
    expects: str | None = None  # the values it takes, from its annotation (`core.params`)


def params_of(cls: type[Stage]) -> list[Param]:
    """The parameters a stage takes, with defaults and the doc line from ``Args:``."""
    docs = _arg_docs(cls.__doc__ or "")
    hints = annotations_of(cls.__init__)
    out = []
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        required = p.default is inspect.Parameter.empty
        expects = expectation(hints[p.name]) if p.name in hints else None
        out.append(Param(p.name, None if required else p.default, required,
                         docs.get(p.name, ""), expects))
    return out


def summary_of(cls: type[Stage]) -> str:
    doc = inspect.cleandoc(cls.__doc__ or "").strip()
    return doc.split("\n\n")[0].replace("\n", " ") if doc else ""


def _arg_docs(doc: str) -> dict[str, str]:
    lines = inspect.cleandoc(doc).splitlines()
    out: dict[str, str] = {}
    in_args = False
    current = None
    for line in lines:
        if line.strip() in ("Args:", "Parameters:"):
            in_args = True
            continue
        if not in_args:
            continue
        if line and not line.startswith(" "):
            break  # next section
        m = re.match(r"^\s{2,4}(\w+)(?:\s*\(.*?\))?:\s*(.*)$", line)
        if m:
            current = m.group(1)
            out[current] = m.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out


def build(entry: dict[str, Any], position: int | None = None) -> Stage:
    """Build a stage from one entry of a pipeline file's ``stages`` list."""
    where = f"stages[{position}]" if position is not None else "stage entry"
    if not isinstance(entry, dict) or "stage" not in entry:
        raise ConfigError(f"{where}: each entry needs a `stage:` key naming a registered stage, "
                          f"got {entry!r}")
    cls = get(str(entry["stage"]))
    params = {k: v for k, v in entry.items() if k not in GENERIC_KEYS}
    valid = {p.name: p for p in params_of(cls)}
    unknown = sorted(set(params) - set(valid))
    if unknown:
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1)
            if close:
                hints.append(f"{key!r} → {close[0]!r}?")
        raise ConfigError(
            f"{where} ({cls.name}): unknown parameter(s) {', '.join(map(repr, unknown))}"
            + (f" ({'; '.join(hints)})" if hints else "")
            + f". Valid parameters: {', '.join(valid) or '(none)'}; "
            f"every stage also takes: {', '.join(k for k in GENERIC_KEYS if k != 'stage')}")
    missing = [p.name for p in valid.values() if p.required and p.name not in params]
    if missing:
        raise ConfigError(f"{where} ({cls.name}): missing required parameter(s) "
                          f"{', '.join(missing)}")
    try:
        stage = cls(**params)
    except ConfigError as e:
        raise ConfigError(f"{where} ({cls.name}): {e}") from None
    except (TypeError, ValueError) as e:
        message = str(e).removeprefix(f"{cls.name}: ")  # the entry already names the stage
        raise ConfigError(f"{where} ({cls.name}): invalid parameter: {message}") from None
    stage.instance_name = str(entry.get("name") or cls.name)
    rate = entry.get("max_removal_rate")
    if rate is not None and not (isinstance(rate, (int, float)) and 0 <= rate <= 1):
        raise ConfigError(f"{where} ({cls.name}): max_removal_rate must be a number in [0, 1], "
                          f"got {rate!r}")
    stage.max_removal_rate = None if rate is None else float(rate)
    return stage
