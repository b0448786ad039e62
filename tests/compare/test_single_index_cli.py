"""The CLI with the single-index and Gaussian-mixture families: per-seed theory from a config,
and one-line errors for bad configs of both families."""

import json

import pytest

from hild import theory as th
from hild.compare.cli import main

PER_SEED = """
family = "single_index"
[problem]
link = "linear"
noise = 0.2
[optimizer]
lr = 0.5
[horizon]
t = 1.0
num_points = 3
[theory]
init = "per_seed"
[simulation]
d = 50
seeds = 3
key = 5
"""


def test_predict_runs_the_theory_from_every_seed(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text(PER_SEED)
    assert main(["predict", str(cfg), "-o", str(tmp_path / "out")]) == 0
    meta = json.loads((tmp_path / "out" / "theory.json").read_text())["metadata"]
    assert meta["init"].startswith("per seed (3 measured initial states")
    curve = th.Curve.load(tmp_path / "out" / "theory")
    assert curve.risk.shape == (3,) and "alignment" in curve.observables


BAD = [
    ('family = "single_index"\n[problem]\nlink = "cubic"', "SingleIndex.link must be one of"),
    ('family = "single_index"\n[problem]\nlink = "quadratic"\nspherical = true',
     "m = 0 is a fixed point"),
    ('family = "single_index"\n[problem]\nnoise = -1.0', "SingleIndex.noise must be >= 0"),
    ('family = "gaussian_mixture"\n[problem]\nrho = 1.5', "GaussianMixture.rho must be in (0, 1)"),
    ('family = "gaussian_mixture"\n[problem]\ndelta = 0.0', "GaussianMixture.delta must be > 0"),
    ('family = "gaussian_mixture"\n[problem]\nloss = "zero_one"', "problem.loss: must be one of"),
]


@pytest.mark.parametrize("problem, message", BAD)
def test_bad_config_is_one_line_exit_2(tmp_path, capsys, problem, message):
    text = problem + "\n[optimizer]\nlr = 0.1\n[horizon]\nt = 1.0\n[simulation]\nd = 20\n"
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    assert main(["predict", str(cfg), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hild: error: ") and err.count("\n") == 1
    assert message in err, err


def test_tune_refuses_per_seed(tmp_path, capsys):
    cfg = tmp_path / "tune.toml"
    cfg.write_text(PER_SEED + "[tune]\nbudget = 1.0\n[tune.grid]\nlr = [0.1, 0.2]\n")
    assert main(["tune", str(cfg), "-o", str(tmp_path / "out")]) == 2
    assert "per_seed" in capsys.readouterr().err
