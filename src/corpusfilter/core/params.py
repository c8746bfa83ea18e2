"""Stage parameters checked from their type annotations: one place for ranges, null, switches
and language codes.

A stage annotates its constructor's parameters with plain types and the aliases below; the
`Stage` base class checks every argument against them before the constructor's body runs,
whether the stage is built in Python or from a pipeline file (where the registry turns the
error into a one-line `ConfigError` naming the stage entry):

```python
def __init__(self, min_words: Count | None = 50,          # an integer ≥ 0, or null
             max_ratio: Fraction | None = 0.1,             # a number in [0, 1], or null
             strict: bool = False,                         # true or false (not 0/1, "no")
             mode: Literal["fast", "exact"] = "fast",      # one of the listed values
             default_lang: LangCode | None = "en"): ...    # 'en', 'de-AT', ...; or null
```

What is checked: ``bool`` (only true/false: YAML's ``yes``/``no``/``on``/``off`` already are
booleans, but ``0``/``1`` and strings are refused), ``int`` (not a bool; NumPy integers pass),
``float`` (any real number but a bool), `Literal`, unions (a value passes if it passes one
member; ``X | None`` allows null), `Annotated` with `Range`, `NonEmpty` or `LANG_CODE`, and
lists/mappings of those (each item; a lone string is not a list). A plain ``str`` or an
unannotated parameter is not checked: paths may be `os.PathLike`. Checks that a type cannot
state (a file must exist, one parameter needs another, the YAML ``no`` → false hint for
language lists) stay in the constructor, next to the parameter they explain.

Per-language and per-source overrides (`LangParams`) are checked against the same
annotations by `check_entries`: an override of a parameter takes what the parameter takes,
and null switches a rule off.
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from corpusfilter.core.langparams import normalise_lang


@dataclass(frozen=True)
class Range:
    """Bounds of a number: ``lo ≤ x ≤ hi`` (``lo < x`` when `lo_open`)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    finite: bool = False  # also refuse infinities (NaN is never in a range)

    def holds(self, v: float) -> bool:
        if math.isnan(v) or (self.finite and math.isinf(v)):
            return False
        if self.lo is not None and (v <= self.lo if self.lo_open else v < self.lo):
            return False
        return self.hi is None or v <= self.hi

    def describe(self) -> str:
        if self.lo is not None and self.hi is not None:
            return f" in {'(' if self.lo_open else '['}{_num(self.lo)}, {_num(self.hi)}]"
        if self.lo is not None:
            return f" {'>' if self.lo_open else '≥'} {_num(self.lo)}"
        return f" ≤ {_num(self.hi)}" if self.hi is not None else ""


@dataclass(frozen=True)
class NonEmpty:
    """A string with at least one character (a column name, a label)."""


@dataclass(frozen=True)
class _LangCode:
    """A language code as `langparams.normalise_lang` reads it (``en``, ``de-AT``, ``zh_Hans``):
    its primary subtag is 2-8 letters (BCP 47, RFC 5646 section 2.2.1)."""


LANG_CODE = _LangCode()
_LISTS = (list, tuple, set, frozenset)  # what a list parameter takes (not a lone string)

Count = Annotated[int, Range(0)]
"""A whole number of at least 0 (words, characters, documents)."""
Positive = Annotated[int, Range(1)]
"""A whole number of at least 1."""
Fraction = Annotated[float, Range(0, 1)]
"""A ratio or probability in [0, 1]."""
NonNegative = Annotated[float, Range(0)]
"""A number of at least 0 (a ratio that may exceed 1, a mean length)."""
LangCode = Annotated[str, LANG_CODE]
"""A language code such as ``en`` (compared by its primary subtag)."""
ColumnName = Annotated[str, NonEmpty()]
"""The name of a column of the documents."""
Label = Annotated[str, NonEmpty()]
"""A non-empty string: a word, a label."""


def check(value: Any, annotation: Any, name: str) -> None:
    """Raise ``ValueError("<name> must be <expected>, got <value>")`` unless `value` fits; in
    a list or mapping of the right kind, the message names the item (``x['en']``)."""
    if _fits(value, annotation):
        return
    inner = _container_of(value, annotation)
    if inner is not None:
        origin, args = inner
        if origin == "list":
            item = args[0] if args else Any
            for i, v in enumerate(value):
                check(v, item, f"{name}[{i}]")
        else:
            key_ann, value_ann = args if len(args) == 2 else (Any, Any)
            for k, v in value.items():
                check(k, key_ann, f"{name} key {k!r}")
                check(v, value_ann, f"{name}[{k!r}]")
    raise ValueError(f"{name} must be {describe(annotation)}, got {value!r}")


def _container_of(value: Any, ann: Any) -> tuple[str, tuple[Any, ...]] | None:
    """The list or mapping annotation (in `ann`, or one member of a union) that `value` is
    an instance of, as ("list" | "mapping", its type arguments)."""
    for a in (typing.get_args(ann) if _is_union(ann) else (ann,)):
        origin = typing.get_origin(a)
        if (origin in (list, tuple, Sequence, typing.Sequence) or a in (list, tuple)) \
                and isinstance(value, _LISTS):
            return "list", typing.get_args(a)
        if (origin in (dict, Mapping, typing.Mapping) or a in (dict, Mapping)) \
                and isinstance(value, Mapping):
            return "mapping", typing.get_args(a)
    return None


def check_arguments(stage: str, init: Callable[..., Any],
                    arguments: Mapping[str, Any]) -> None:
    """Check a constructor's bound arguments against its annotations."""
    hints = annotations_of(init)
    for name, value in arguments.items():
        if name in hints:
            check(value, hints[name], f"{stage}: {name}")


def check_entries(stage: Any, entries: Iterator[tuple[str, str, Any]]) -> None:
    """Check per-language/per-source overrides (`LangParams.entries()`) against the stage's
    annotation of each parameter; null is allowed (it switches a rule off) except for
    switches (``bool``), which are on or off."""
    hints: dict[str, Any] = {}
    for klass in reversed(type(stage).__mro__):
        init = klass.__dict__.get("__init__")
        if init is not None and klass is not object:
            hints.update(annotations_of(init))
    for where, key, value in entries:
        ann = hints.get(key)
        if ann is None:
            continue
        if value is None and not _is_switch(ann):
            continue
        check(value, ann, f"{stage.name}: {where}")


def annotations_of(init: Callable[..., Any]) -> dict[str, Any]:
    """A constructor's parameter annotations, resolved (cached on the function)."""
    init = inspect.unwrap(init)
    cached = init.__dict__.get("_param_annotations")
    if cached is not None:
        return cached
    namespace = getattr(init, "__globals__", {})  # where the annotation text was written
    out: dict[str, Any] = {}
    for name, p in inspect.signature(init).parameters.items():
        ann = p.annotation
        if name == "self" or ann is inspect.Parameter.empty:
            continue
        if isinstance(ann, str):
            try:
                ann = eval(ann, namespace)  # the module's own annotation text
            except Exception:  # a name only imported for type checkers: left unchecked
                continue
        out[name] = ann
    init.__dict__["_param_annotations"] = out
    return out


# -- matching ---------------------------------------------------------------------------------

def _fits(value: Any, ann: Any) -> bool:
    if ann is Any or ann is inspect.Parameter.empty:
        return True
    if ann is None or ann is type(None):
        return value is None
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Annotated:
        base, *marks = args
        return _fits(value, base) and all(_mark_holds(value, m) for m in marks)
    if origin is Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if _is_union(ann):
        return any(_fits(value, a) for a in args)
    if ann is bool:
        return isinstance(value, bool)
    if ann is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if ann is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin in (list, tuple, Sequence, typing.Sequence) or ann in (list, tuple):
        if not isinstance(value, _LISTS):
            return False
        item = args[0] if args else Any  # list[X], Sequence[X], tuple[X, ...]
        return all(_fits(v, item) for v in value)
    if origin in (dict, Mapping, typing.Mapping) or ann in (dict, Mapping):
        if not isinstance(value, Mapping):
            return False
        key_ann, value_ann = args if len(args) == 2 else (Any, Any)
        return all(_fits(k, key_ann) and _fits(v, value_ann) for k, v in value.items())
    return True  # str, paths, classes: the constructor's business


def _mark_holds(value: Any, mark: Any) -> bool:
    if isinstance(mark, Range):
        return mark.holds(value)
    if isinstance(mark, NonEmpty):
        return isinstance(value, str) and bool(value)
    if isinstance(mark, _LangCode):  # BCP 47: the primary subtag is letters only
        return isinstance(value, str) and re.fullmatch(r"[a-z]{2,8}",
                                                       normalise_lang(value) or "") is not None
    return True


def _is_union(ann: Any) -> bool:
    import types

    return typing.get_origin(ann) in (typing.Union, types.UnionType)


def _is_switch(ann: Any) -> bool:
    return ann is bool


# -- messages ---------------------------------------------------------------------------------

def expectation(ann: Any) -> str | None:
    """`describe(ann)` for an annotation this module checks; None for one it leaves alone
    (a plain ``str``, a path, ``Any``)."""
    if _fits(_Unchecked(), ann):
        return None
    return describe(ann)


class _Unchecked:
    """A value of no checked type: it fits only annotations that check nothing."""


def describe(ann: Any) -> str:
    """What a value of this annotation is, in the words of an error message."""
    if ann is None or ann is type(None):
        return "null"
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is Annotated:
        base, *marks = args
        for m in marks:
            if isinstance(m, _LangCode):
                return "a language code such as 'en'"
            if isinstance(m, NonEmpty):
                return "a non-empty string"
        ranges = [m for m in marks if isinstance(m, Range)]
        finite = "a finite number" if base is float and any(m.finite for m in ranges) else ""
        return (finite or describe(base)) + "".join(m.describe() for m in ranges)
    if origin is Literal:
        return "one of " + ", ".join(_literal(a) for a in args)
    if _is_union(ann):
        parts = []
        for a in args:
            if typing.get_origin(a) is Literal:  # values inline: "true, false or auto"
                parts += [_literal(v) for v in typing.get_args(a)]
            elif a is bool:
                parts += ["true", "false"]
            else:
                parts.append(describe(a))
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    if ann is bool:
        return "true or false"
    if ann is int:
        return "an integer"
    if ann is float:
        return "a number"
    if ann is str:
        return "a string"
    if origin in (list, tuple, Sequence, typing.Sequence) or ann in (list, tuple):
        item = args[0] if args else Any
        return "a list" + ("" if item is Any else f" of {_part(describe(item))}")
    if origin in (dict, Mapping, typing.Mapping) or ann in (dict, Mapping):
        value_ann = args[1] if len(args) == 2 else Any
        inner = describe(value_ann)
        return "a mapping" + ("" if value_ann is Any or inner.startswith("a mapping")
                              else f" to {_part(inner)}")
    return getattr(ann, "__name__", str(ann))


def _part(text: str) -> str:
    """A description inside another, parenthesised when it has alternatives."""
    return f"({text})" if " or " in text else text


def _literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return "null" if v is None else str(v)


def _num(x: float | None) -> str:
    return str(int(x)) if x is not None and float(x).is_integer() else str(x)
