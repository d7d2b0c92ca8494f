"""The core install runs the trial; every other tool names the extra it needs when it is missing."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from latticenas.extras import EXTRAS, MissingExtraError, require

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src" / "latticenas"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Runs a snippet as if no extra were installed: each optional package is unimportable.
WITHOUT_EXTRAS = "import sys\nfrom latticenas.extras import EXTRAS\nfor name in EXTRAS: sys.modules[name] = None\n"


def test_every_extra_named_is_declared():
    declared = PYPROJECT["project"]["optional-dependencies"]
    assert set(EXTRAS.values()) <= set(declared)
    dev = " ".join(declared["dev"])
    assert "latticenas[all]" in dev, "the dev install (make setup) must have every extra"


def test_missing_library_names_its_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "kfp", None)
    with pytest.raises(MissingExtraError, match=r"kfp is not installed.*pip install 'latticenas\[pipeline\]'"):
        require("kfp")


def test_a_module_missing_inside_an_installed_package_keeps_its_error():
    with pytest.raises(ModuleNotFoundError) as caught:
        require("kfp.no_such_module")
    assert not isinstance(caught.value, MissingExtraError)


def _imported_tops(tree: ast.AST) -> set[str]:
    tops = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            tops.add(node.module.partition(".")[0])
    return tops


def _required(tree: ast.AST) -> set[str]:
    return {
        node.args[0].value.partition(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "require"
        and node.args and isinstance(node.args[0], ast.Constant)
    }


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_every_module_importing_an_optional_library_requires_it(path):
    tree = ast.parse(path.read_text())
    optional = _imported_tops(tree) & set(EXTRAS)
    required = _required(tree)
    for package in path.parents:  # a package's __init__ runs before any of its modules
        if package == SRC:
            break
        required |= _required(ast.parse((package / "__init__.py").read_text()))
    missing = optional - required
    assert not missing, f"call latticenas.extras.require() before importing {sorted(missing)}"


def _run(snippet: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS + snippet], capture_output=True, text=True,
                          timeout=600, cwd=REPO / "tests")


def test_the_trial_needs_no_extra():
    proc = _run("import latticenas.trial, latticenas.trial_loop\n"
                "from latticenas.trial import main\nsys.exit(main(['--help']))\n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "usage: latticenas-trial" in proc.stdout


def test_a_tool_without_its_extra_is_one_error_line(tmp_path):
    proc = _run(f"from latticenas.cli import main\nsys.exit(main(['pipeline', 'compile', '--output', '{tmp_path}/p.yaml']))\n")
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.strip().splitlines()[-1].startswith("error: kfp is not installed")
    assert "Traceback" not in proc.stderr
