"""Families and optimizers from outside hild, from the shell: the package tests/plugins/hild_toy
installed (its entry points), a module on the path (`family = "module:Class"`) and a file next
to the config (`"file.py:Class"`) run through the `hild` commands, and an optimizer without a
theory is simulated, with `hild compare` saying so in one line."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).parent / "plugins" / "hild_toy"

SIGN_SGD_ON_LEAST_SQUARES = """
family = "linreg"
[problem]
spectrum = { kind = "power_law", d = 40, alpha = 1.0 }
noise = 0.1
[optimizer]
kind = "{kind}"
lr = 0.001
batch = 2
[horizon]
t = 2.0
num_points = 5
[simulation]
seeds = 4
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """hild-toy installed (pip, offline) into a folder of its own, as a user would install it."""
    root = tmp_path_factory.mktemp("plugin")
    source = shutil.copytree(PLUGIN, root / "source")  # the build writes next to its sources
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--no-build-isolation", "--target", str(target), str(source)],
                   check=True, capture_output=True, timeout=300)
    assert (target / "hild_toy" / "theory.py").is_file()
    return target


def _hild(args, cwd, pythonpath=None):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run([sys.executable, "-m", "hild", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_an_installed_family_runs_through_the_commands(installed, tmp_path):
    listed = _hild(["example", "--list"], tmp_path, installed)
    assert listed.returncode == 0 and "toy" in listed.stdout.split(), listed.stderr
    out = _hild(["compare", "--family", "toy", "-o", "out"], tmp_path, installed)
    assert out.returncode == 0, out.stderr
    report = json.loads((tmp_path / "out" / "agreement.json").read_text())
    assert report["compared"] and report["max_abs_z"] <= 3.0
    assert report["observables"]["overlap"]["max_abs_z"] <= 3.0
    assert (tmp_path / "out" / "overlay_overlap.png").is_file()
    missing = _hild(["compare", "--family", "toy", "-o", "out2"], tmp_path)  # not installed
    assert missing.returncode == 2 and "no example config for 'toy'" in missing.stderr


def test_an_installed_optimizer_is_simulated_without_a_theory(installed, tmp_path):
    (tmp_path / "sign.toml").write_text(SIGN_SGD_ON_LEAST_SQUARES.replace("{kind}", "sign_sgd"))
    out = _hild(["compare", "sign.toml", "-o", "out"], tmp_path, installed)
    assert out.returncode == 0, out.stderr
    assert ("theory: hild has no theory for SignSGD on LinearRegression (linreg); its theories: "
            "ASGD, AdaptiveSGD, Averaged, Nesterov, SGD (simulation needs none); drawing the "
            "simulation alone") in out.stdout
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"simulation.csv", "overlay.png"} <= names and "agreement.json" not in names
    predict = _hild(["predict", "sign.toml", "-o", "p"], tmp_path, installed)
    assert predict.returncode == 2 and "hild: error: theory: hild has no theory for SignSGD" in predict.stderr


def test_a_family_and_an_optimizer_named_by_module_or_file(tmp_path):
    config = (Path(__file__).parent / "plugins" / "hild_toy" / "hild_toy" / "toy.toml").read_text()
    (tmp_path / "by_module.toml").write_text(config.replace('family = "toy"',
                                                            'family = "hild_toy.theory:NoisyQuadratic"'))
    out = _hild(["predict", "by_module.toml", "-o", "a"], tmp_path, PLUGIN)
    assert out.returncode == 0 and "theory: risk 0.5 ->" in out.stdout, out.stderr
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "my_sign.py").write_text("from hild_toy.sign_sgd import SignSGD\n")
    (tmp_path / "mine" / "run.toml").write_text(SIGN_SGD_ON_LEAST_SQUARES.replace("{kind}", "my_sign.py:SignSGD"))
    out = _hild(["simulate", "mine/run.toml", "-o", "b"], tmp_path, PLUGIN)
    assert out.returncode == 0 and "simulation: risk" in out.stdout, out.stderr
    bad = _hild(["simulate", "mine/run.toml", "-o", "c"], tmp_path)  # hild_toy not importable
    assert bad.returncode == 2 and "hild: error: optimizer.kind: 'my_sign.py:SignSGD': cannot import" in bad.stderr
