"""Install: the declared runtime dependencies are exactly what src/ imports, and a wheel built
with `python -m build` runs the default recipe offline in a fresh virtual environment."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLE, UNSHARE

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# Imported by src/ only behind an optional extra, with an error naming the extra.
OPTIONAL = {"ray": "ray", "fsspec": "fsspec"}


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _third_party_imports() -> set[str]:
    names = set()
    for path in (ROOT / "src" / "corpusfilter").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "corpusfilter"}


def test_runtime_dependencies_are_exactly_what_src_imports():
    dists = importlib.metadata.packages_distributions()
    imported = {}
    for module in _third_party_imports() - set(OPTIONAL):
        assert module in dists, f"src/ imports {module}, which no installed package provides"
        imported[module] = dists[module][0].lower().replace("_", "-")
    declared = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    needed = set(imported.values())
    assert needed - declared == set(), f"imported but not declared: {needed - declared}"
    assert declared - needed == set(), f"declared but never imported: {declared - needed}"
    extras = PYPROJECT["project"]["optional-dependencies"]
    for module, extra in OPTIONAL.items():
        assert any(_name(r) == module for r in extras[extra]), (module, extra)
    # test-only packages stay out of the runtime set
    assert {"hypothesis", "datasketch", "moto"} & declared == set()


@pytest.mark.slow
def test_wheel_installs_and_runs_the_default_recipe_offline(tmp_path):
    """Build the wheel from a copy of the sources, install it with no index into a fresh
    venv whose dependencies come from this test environment (a .pth line: the wheel's own
    files, not this checkout, must be what runs), and run `corpusfilter run default` on the
    bundled sample in a network namespace with no network."""
    pytest.importorskip("build")
    src = tmp_path / "src-copy"
    shutil.copytree(ROOT / "src", src / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(src)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(dist.glob("corpusfilter-*.whl"))
    files = zipfile.ZipFile(wheel).namelist()
    for needed in ("corpusfilter/recipes/default.yaml",
                   "corpusfilter/resources/sample/web_sample.parquet",
                   "corpusfilter/resources/langid/lid.176.ftz"):
        assert needed in files, needed
    assert not any(f.startswith("tests/") for f in files)

    # no PYTHONPATH: the checkout's sources must be invisible to pip and to the fresh venv
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    venv = tmp_path / "fresh"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-index",
                    "--no-deps", "-q", str(wheel)], check=True, capture_output=True,
                   timeout=300, env=env)
    site = Path(subprocess.check_output(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        text=True).strip())
    (site / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    prefix = UNSHARE or []
    where = subprocess.check_output([*prefix, str(py), "-c",
                                     "import corpusfilter; print(corpusfilter.__file__)"],
                                    text=True, env=env).strip()
    assert where.startswith(str(venv)), where
    out = tmp_path / "out"
    proc = subprocess.run([*prefix, str(venv / "bin" / "corpusfilter"), "run", "default",
                           str(SAMPLE), "-o", str(out), "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "kept" in proc.stdout
    check = subprocess.run([*prefix, str(venv / "bin" / "corpusfilter"), "verify", str(out)],
                           capture_output=True, text=True, env=env)
    assert check.returncode == 0 and "OK" in check.stdout
