"""Rank-one sensing in compare/: the tuning confirmed by simulation, configs and the CLI."""

import tomllib
from pathlib import Path

import pytest

from hild import theory as th
from hild.compare import config, confirm_tuning, examples
from hild.compare import tune as T
from hild.compare.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sensing_tuning.toml"


@pytest.mark.slow
def test_tuning_from_theory_is_confirmed_by_simulation():
    """The pair chosen from the recursion (η = 8, δ = 4: 3 iterations, 12 d measurements to
    error 0.01) reaches the target in simulation with that budget, and the best pairs at the
    two nearest batch fractions (δ = 1, 2: predicted 14 d) do not: 50 seeds at d = 200, each
    mean more than 3 SE on its predicted side of the target."""
    problem = th.RankOneSensing("bilinear", 0.1)
    res = T.tune(problem, th.ProxLinear(1.0, 1.0),
                 {"step": [0.5, 1, 2, 4, 8, 16], "batch_fraction": [0.5, 1, 2, 4, 8]}, 16.0,
                 objective="samples_to_target", target=0.01, num_points=200)
    assert (float(res.best.step), float(res.best.batch_fraction), res.best_value) == (8.0, 4.0, 12.0)
    check = confirm_tuning(problem, res, d=200, seeds=50, key=11, alternatives=[1.0, 2.0])
    assert [float(o.batch_fraction) for o, _, _ in check.runs] == [4.0, 1.0, 2.0]
    assert [int(sim.step[-1]) for _, _, sim in check.runs] == [3, 12, 6]  # the budget t = 12
    (pred, mean, se), *others = check.final_values()
    assert mean + 3 * se < 0.01 and abs(mean - pred) < 3 * se
    for pred, mean, se in others:
        assert pred > 0.01 and mean - 3 * se > 0.01
    fig = check.figure()
    assert "error" in fig.axes[0].get_ylabel()


def _small(tmp_path, d=40, batch_fraction=1.0):
    data = tomllib.loads(examples.default_text("sensing"))
    data["horizon"] = {"steps": 60, "num_points": 61}  # the horizon the theory tests compile
    data["simulation"].update({"d": d, "seeds": 4})
    data["optimizer"]["batch_fraction"] = batch_fraction
    path = tmp_path / "sensing.toml"
    path.write_text(config.dumps(data))
    return str(path)


def test_cli_compare_writes_the_overlay_with_the_error_label(tmp_path):
    out = tmp_path / "out"
    assert main(["compare", _small(tmp_path), "-o", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"overlay.png", "agreement.json", "theory.csv", "simulation.csv"} <= names
    curve = th.Curve.load(out / "theory")
    assert isinstance(curve.problem, th.RankOneSensing) and curve.risk.shape == (61,)
    assert "mu" in curve.metadata["risk_label"]


def test_default_and_example_configs_are_valid():
    for job in (config.load(None, "sensing"), config.load(EXAMPLE)):
        assert job.family == "sensing" and isinstance(job.optimizer, th.ProxLinear)
        assert job.simulation["d"] * float(job.optimizer.batch_fraction) % 1 == 0
    example = config.load(EXAMPLE)
    assert (float(example.optimizer.step), float(example.optimizer.batch_fraction)) == (8.0, 4.0)


@pytest.mark.parametrize("edit, message", [
    ({"optimizer": {"kind": "prox_linear"}}, "optimizer.step: missing required field"),
    ({"optimizer": {"kind": "prox_linear", "step": 0.0}}, "ProxLinear.step must be > 0"),
    ({"optimizer": {"kind": "prox_linear", "step": 1.0, "batch_fraction": -1.0}},
     "ProxLinear.batch_fraction must be > 0"),
    ({"problem": {"model": "cubic"}}, "problem.model: must be one of bilinear, symmetric"),
    ({"problem": {"init": [0.5, 0.5]}}, "problem.init: expected 4 numbers"),
    ({"problem": {"noise": -1.0}}, "RankOneSensing.noise must be >= 0"),
])
def test_bad_configs_name_the_field(edit, message):
    data = tomllib.loads(examples.default_text("sensing"))
    data.update(edit)
    with pytest.raises(th.ConfigError, match=message):
        config.parse(data)


def test_cli_rejects_a_batch_that_is_not_whole(tmp_path, capsys):
    path = _small(tmp_path, d=41, batch_fraction=0.5)
    assert main(["simulate", path, "-o", str(tmp_path / "o")]) == 2
    assert "batch_fraction * d must be a whole number" in capsys.readouterr().err
