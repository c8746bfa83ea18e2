"""The base install's size: corpusfilter's runtime dependencies and everything they require
(extras not asked for are left out), summed over the files each distribution installed, as
recorded in its RECORD, in this environment (so: these versions, this platform).

    python benchmarks/install_size.py

This is the size `pip install corpusfilter` adds to a fresh venv (pip and setuptools not
counted); `tests/test_install.py` checks the wheel itself installs and runs offline.
"""

from __future__ import annotations

import importlib.metadata as md
import os
import re
import sys

from packaging.requirements import Requirement


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(root: str) -> dict[str, md.Distribution]:
    """Distributions needed by ``root`` (no extras), by normalised name."""
    seen: dict[str, md.Distribution] = {}
    todo = [(root, frozenset())]
    while todo:
        name, extras = todo.pop()
        key = _norm(name)
        if key in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            print(f"not installed here: {name}", file=sys.stderr)
            continue
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            env = {"extra": next(iter(extras), "")}
            if req.marker is None or req.marker.evaluate(env):
                todo.append((req.name, frozenset(req.extras)))
    return seen


def size_of(dist: md.Distribution) -> int:
    total = 0
    for f in dist.files or []:
        p = dist.locate_file(f)
        if os.path.isfile(p):
            total += os.path.getsize(p)
    return total


def main() -> None:
    dists = closure("corpusfilter")
    sizes = sorted(((size_of(d), n) for n, d in dists.items() if n != "corpusfilter"),
                   reverse=True)
    total = sum(s for s, _ in sizes)
    own = size_of(dists["corpusfilter"])
    if own < 1e6:  # an editable install records no package files: count the sources
        from pathlib import Path

        import corpusfilter

        own = sum(p.stat().st_size for p in Path(corpusfilter.__file__).parent.rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)
    print(f"{(total + own) / 1e6:,.0f} MB in {len(sizes) + 1} distributions: corpusfilter "
          f"{own / 1e6:,.1f} MB and {len(sizes)} dependencies, {total / 1e6:,.0f} MB")
    for s, n in sizes[:8]:
        print(f"  {n:24s} {s / 1e6:8,.0f} MB")


if __name__ == "__main__":
    main()
