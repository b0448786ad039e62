"""Bad input and faults: one line naming the field (exit 2) before anything runs, divergence
written as a result (exit 0), and output folders replaced as a whole set."""

import json
import os
import re

import jax
import jax.numpy as jnp
import pytest

from hild import theory as th
from hild.compare import config
from hild.compare.cli import main
from hild.compare.output import MARKER
from hild.theory.linreg import critical_lr

SMALL = """
family = "linreg"
[problem]
spectrum = { kind = "power_law", d = 20, alpha = 1.2 }
noise = 0.1
[optimizer]
lr = 0.5
[horizon]
t = 2.0
num_points = 5
[simulation]
seeds = 3
[tune]
budget = 2.0
num_points = 5
[tune.grid]
lr = [0.2, 0.5]
"""


def _config(tmp_path, edits=(), name="run.toml"):
    text = SMALL
    for old, new in edits:
        assert re.search(old, text, re.M), old
        text = re.sub(old, new, text, count=1, flags=re.M)
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _run(capsys, *argv):
    code = main(list(argv))
    return code, capsys.readouterr().err.strip()


BAD = [
    ([(r"^\[simulation\]", "[plot]\nmax_seeds = -1\n[simulation]")], "plot.max_seeds: must be an integer >= 0"),
    ([(r"^\[simulation\]", "[theory]\nmethod = \"limit\"\nrtol = -1e-8\n[simulation]")], "theory: rtol must be a number in (0, 1)"),
    ([(r"^lr = 0.5", 'schedule = { kind = "piecewise_constant", values = [], t_max = 1.0 }')],
     "piecewise_constant.values must be a non-empty list"),
    ([(r"^lr = \[0.2, 0.5\]", "lr = [-0.1, 0.5]")], "tune.grid: lr = -0.1 is not allowed: SGD.lr must be > 0"),
    ([(r"^spectrum = .*$", "spectrum = []")], "spectrum must be a non-empty list"),
    ([(r"^spectrum = .*$", "spectrum = [0.0, 0.0]")], "spectrum must have a positive entry (got all zeros)"),
    ([(r"^\[optimizer\]", "[optimizer]\nbatch = 1000000000000")], "optimizer.batch: must be an integer <= 2147483647"),
    ([(r"^seeds = 3", "seeds = 1000000000000")], "simulation: seeds, d, batch: a simulation of 1000000000000 seeds"),
    ([(r"^num_points = 5", "num_points = 10000000000000")], "horizon: num_points: a record grid"),
    ([(r"^seeds = 3", "seeds = 3\nkey = 100000000000000000000")], "simulation.key: must be an integer <= 4294967295"),
    ([(r"d = 20", "d = 10000000000000")], "problem: d must be an integer in [1, 2147483647]"),
    ([(r"^t = 2.0", "t = 1e19")], "t: a horizon of t = 1e+19 takes"),
]


@pytest.mark.parametrize("edits, message", BAD)
def test_bad_values_are_one_line_naming_the_field(tmp_path, capsys, edits, message):
    out = tmp_path / "out"
    for command in ("compare", "tune"):
        code, err = _run(capsys, command, _config(tmp_path, edits), "-o", str(out))
        if code == 0:  # e.g. a [tune] field a run command ignores
            continue
        assert code == 2 and "\n" not in err and message in err, err
        assert not out.exists()


def test_random_search_needs_draws(tmp_path, capsys):
    cfg = _config(tmp_path, [(r"^\[tune.grid\]\nlr = .*$",
                              "[tune.random]\nnum = 0\nlr = { min = 0.1, max = 1.0 }"),
                             (r"^\[tune\]", '[tune]\nengine = "random"')])
    code, err = _run(capsys, "tune", cfg, "-o", str(tmp_path / "out"))
    assert code == 2 and err == "hild: error: tune.random.num: must be an integer >= 1 (got 0)"


def test_batch_past_the_horizon_is_refused(tmp_path, capsys):
    cfg = _config(tmp_path, [(r"^\[optimizer\]", "[optimizer]\nbatch = 100000")])
    code, err = _run(capsys, "predict", cfg, "-o", str(tmp_path / "out"))
    assert code == 2 and "batch: one step of 100000 samples moves t by 5000" in err


def test_the_output_place_is_checked_before_computing(tmp_path, capsys):
    cfg = _config(tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("mine")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    for place, message in ((str(a_file), "exists and is not a folder"),
                           ("", "give a folder name"),
                           (str(theirs), "holds files that hild did not write"),
                           (str(locked / "out"), "Permission denied")):
        if message == "Permission denied" and os.access(locked, os.W_OK):
            continue  # running as root: permissions do not bind
        code, err = _run(capsys, "compare", cfg, "-o", place)
        assert code == 2 and message in err and "\n" not in err, err
        assert "simulating" not in err and "theory:" not in capsys.readouterr().out
    assert a_file.read_text() == "mine" and os.listdir(theirs) == ["notes.txt"]


def test_all_seeds_diverged_is_a_result(tmp_path, capsys):
    cfg = _config(tmp_path, [(r"^lr = 0.5", "lr = 50.0")])
    out = tmp_path / "out"
    assert main(["compare", cfg, "-o", str(out)]) == 0
    report = json.loads((out / "agreement.json").read_text())
    assert report["compared"] is False and report["diverged_seeds"] == 3
    assert report["theory_diverged"] is True and 0 < report["theory_diverged_t"] < 2.0
    assert report["max_abs_z"] is None
    assert {"overlay.png", "theory.csv", "simulation.csv"} <= set(os.listdir(out))
    assert "not compared: 0 of 3 seeds stayed finite" in capsys.readouterr().out


def test_a_d_free_theory_reports_its_divergence_time():
    problem = th.CommitteeMachine(2, 2, "relu", init=None)
    curve = th.predict(problem, th.SGD(50.0), t=5.0, num_points=6, plateau=False)
    assert bool(curve.diverged) and int(curve.diverged_step) == -1
    assert 0 < float(curve.diverged_t) < 5.0


def test_a_rerun_replaces_the_whole_set(tmp_path):
    cfg = _config(tmp_path)
    out = tmp_path / "out"
    assert main(["compare", cfg, "-o", str(out)]) == 0
    assert (out / "simulation.state.npz").exists() and (out / MARKER).exists()
    assert main(["predict", cfg, "-o", str(out)]) == 0
    left = set(os.listdir(out))
    assert left == {MARKER, "theory.csv", "theory.json", "theory.state.npz", "theory.png",
                    "config.used.toml"}, left
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".out")]  # no staging left


def test_python_api_errors_name_the_argument():
    problem = th.LinearRegression(th.spectra.isotropic(10))
    with pytest.raises(ValueError, match=r"^critical_lr: batch must be >= 1 \(got 0\)$"):
        critical_lr(problem, batch=0)
    with pytest.raises(TypeError, match=r"^lr must be a number.*\(got 'fast'\)$"):
        th.SGD(lr="fast")
    sweep = jax.vmap(lambda lr: th.predict(problem, th.SGD(lr), t=1.0, num_points=3).risk)
    with pytest.raises(ValueError, match=r"^SGD.lr must be > 0"):
        sweep(jnp.array([0.5, -0.1]))


def test_the_config_copy_is_the_text_that_ran(tmp_path):
    cfg = _config(tmp_path)
    out = tmp_path / "out"
    assert main(["predict", cfg, "-o", str(out)]) == 0
    assert (out / "config.used.toml").read_text() == SMALL
    assert main(["predict", str(out / "config.used.toml"), "-o", str(out)]) == 0  # in place
    assert config.load(out / "config.used.toml").raw == config.load(cfg).raw
