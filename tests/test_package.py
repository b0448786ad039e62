"""The package's shape: one import package `hild`, nothing else on sys.path, a user's own
`compare.py`/`simulate.py`/`theory.py` changes nothing, `import hild` and the CLI's argument
parsing load no JAX, and no private module is imported across packages."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PACKAGES = {"theory": ROOT / "theory", "simulate": ROOT / "simulate", "compare": ROOT / "compare",
            "": ROOT / "hild"}
ALLOWED = {"theory": set(), "simulate": {"theory"}, "compare": {"theory", "simulate"},
           "": {"theory", "simulate", "compare"}}
"""Which of hild's packages each may import (theory imports nothing of ours)."""


def _run(code: str, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args, "-c", code] if code else [sys.executable, *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_a_users_own_modules_of_the_same_names_change_nothing(tmp_path):
    for name in ("compare", "simulate", "theory", "tests"):
        (tmp_path / f"{name}.py").write_text(f"raise RuntimeError('the user\\'s own {name}.py')\n")
    code = """
import jax
jax.config.update("jax_enable_x64", True)
import hild
problem = hild.LinearRegression(hild.spectra.isotropic(8))
curve = hild.predict(problem, hild.SGD(0.5), steps=4)
runs = hild.simulate(problem, hild.SGD(0.5), steps=4, seeds=2, key=0)
print(hild.agreement(curve, runs).compared, hild.theory.__name__, hild.compare.__name__)
"""
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "hild.theory", "hild.compare"]
    cli = subprocess.run([sys.executable, "-m", "hild", "example", "linreg"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0 and 'family = "linreg"' in cli.stdout, cli.stderr


def test_nothing_but_hild_is_installed_on_the_path(tmp_path):
    for name in ("theory", "simulate", "compare"):
        out = _run(f"import {name}", tmp_path)
        assert out.returncode == 1 and f"No module named '{name}'" in out.stderr


def test_import_hild_and_the_command_line_parser_load_no_jax(tmp_path):
    code = """
import sys
import hild, hild.theory, hild.simulate, hild.compare
from hild.compare import cli
cli.build_parser()
print(sorted({m.split(".")[0] for m in sys.modules} & {"jax", "jaxlib", "equinox", "diffrax", "matplotlib"}))
"""
    out = _run(code, tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_version_and_help_answer():
    from hild import __version__

    for args, expect in ((["--version"], f"hild {__version__}"), (["--help"], "usage: hild")):
        out = subprocess.run([sys.executable, "-m", "hild", *args], capture_output=True,
                             text=True, timeout=300)
        assert out.returncode == 0 and expect in out.stdout, out.stderr


def test_hild_simulate_is_the_package_and_the_function():
    import inspect

    import hild
    from hild.simulate import simulate

    assert hild.simulate.AbstractSimulation.__name__ == "AbstractSimulation"
    assert inspect.signature(hild.simulate) == inspect.signature(simulate)
    assert callable(hild.simulate) and hild.agreement.__name__ == "agreement"


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_private_module_across_packages_and_no_cycle(package):
    """A package imports only the public modules of the packages below it."""
    bad = []
    for path in sorted(PACKAGES[package].glob("*.py")):
        for module, names in _imports(path):
            parts = module.split(".")
            if parts[0] != "hild" or len(parts) < 2:
                continue
            other = parts[1] if parts[1] in ("theory", "simulate", "compare") else ""
            if other == package:
                continue
            if other not in ALLOWED[package] and not (package == "" and module == "hild"):
                bad.append(f"{path.name}: {module} (a package above {package or 'hild'})")
            if any(p.startswith("_") for p in parts[2:]) or module == "hild.__main__":
                bad.append(f"{path.name}: {module} (private)")
    assert not bad, bad
