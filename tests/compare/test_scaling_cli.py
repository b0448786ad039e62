"""`hild scaling`: the frontier from theory at small sizes, its outputs, and bad [scaling]
fields as one line naming the field (exit 2, nothing written)."""

import csv
import json

import numpy as np
import pytest

from hild.compare.cli import main
from hild.compare.frontier import _best, _fit, model_sizes

CONFIG = """family = "power_law_rf"
[problem]
alpha = 1.0
beta = 0.3
d = 16
v = 256
[optimizer]
kind = "sgd"
lr = 0.2
[horizon]
steps = 100
[simulation]
seeds = 16
[scaling]
sizes = { min = 8, max = 64, per_octave = 2 }
compute = { min = 1e3, max = 1e6, num = 13 }
simulate = [16]
simulate_compute_max = 3e4
"""


def test_scaling_writes_frontier_and_simulation(tmp_path, capsys):
    cfg = tmp_path / "scaling.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    assert main(["scaling", str(cfg), "-o", str(out)]) == 0
    assert {"frontier.csv", "frontier.png", "scaling.json", "config.used.toml"} <= \
        {p.name for p in out.iterdir()}
    summary = json.loads((out / "scaling.json").read_text())
    assert summary["predicted"]["phase"] == "I"
    assert summary["simulation"]["16"]["max_abs_z"] < 3.5
    assert summary["simulation"]["16"]["points"] >= 5
    rows = list(csv.DictReader((out / "frontier.csv").open()))
    assert len(rows) == 13 and rows[0]["compute"] == "1000"
    loss = np.array([float(r["best_loss"]) for r in rows if r["best_loss"]])
    assert loss.size >= 5 and np.all(np.diff(loss) < 0)  # more compute, lower optimal loss
    assert "predicted (phase I)" in capsys.readouterr().out


def test_frontier_of_a_known_power_law_recovers_its_exponents():
    """A synthetic loss P(d, f) = d^-1 + (f/d)^-1/2 has d* = (f/4)^(1/3) ∝ f^(1/3) and
    P* ∝ f^(-1/3): `_best` and `_fit` recover them from the grid."""
    sizes = model_sizes(4, 4096, 8)
    compute = np.geomspace(1e3, 1e9, 25)
    d, f = np.meshgrid(sizes.astype(float), compute, indexing="ij")
    best_size, best_loss = _best(sizes, 1 / d + (f / d) ** -0.5)
    fit = _fit(sizes, compute, best_size, best_loss)
    assert fit["model_size"] == pytest.approx(1 / 3, abs=0.01)
    assert fit["loss"] == pytest.approx(1 / 3, abs=0.01)


@pytest.mark.parametrize("old, new, message", [
    ("max = 64,", "max = 16,", "scaling.sizes.max: must be at least 4 × min"),
    ("min = 1e3,", "min = -1,", "scaling.compute.max: needs 0 < min < max"),
    ("simulate = [16]", "simulate = [17]", "scaling.simulate: 17 is not one of the model sizes"),
    ("max = 64,", "max = 512,", "PowerLawRandomFeatures.v must be an integer >= 512"),
    ("lr = 0.2", "lr = 0.2\nmomentum = 0.5", "without momentum; use method 'exact'"),
    ("per_octave = 2", "per_octave = 0", "scaling.sizes.per_octave"),
])
def test_bad_scaling_config_is_one_line_exit_2(tmp_path, capsys, old, new, message):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(CONFIG.replace(old, new))
    out = tmp_path / "out"
    assert main(["scaling", str(cfg), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("hild: error: ") and err.count("\n") == 1, err
    assert message in err, err
    assert not out.exists()


def test_scaling_needs_its_table(tmp_path, capsys):
    cfg = tmp_path / "none.toml"
    cfg.write_text(CONFIG.split("[scaling]")[0])
    assert main(["scaling", str(cfg), "-o", str(tmp_path / "out")]) == 2
    assert "scaling: missing table [scaling]" in capsys.readouterr().err


def test_replicas_average_independent_draws():
    """`replicas = 2`: the loss of each size is the mean of the theory at key and key + 1."""
    import jax

    from hild.compare.frontier import frontier
    from hild.theory import SGD, PowerLawRandomFeatures, predict

    jax.config.update("jax_enable_x64", True)
    problem = PowerLawRandomFeatures(1.0, 0.7, 64, 8, key=4)
    compute = np.geomspace(1e3, 1e5, 5)
    both = frontier(problem, SGD(0.2), [8, 16, 32], compute, replicas=2)
    t = compute / 16**2
    each = [np.asarray(predict(PowerLawRandomFeatures(1.0, 0.7, 64, 16, key=k), SGD(0.2),
                               save_at=t).risk) for k in (4, 5)]
    np.testing.assert_allclose(both.loss[1], 0.5 * (each[0] + each[1]), rtol=1e-12)
    assert not np.allclose(each[0], each[1], rtol=1e-3)  # the draws differ


def test_sizes_where_the_rate_is_unstable_are_reported(tmp_path, capsys):
    """At γ = 0.5 some sizes are unstable (K's top eigenvalue and trace fluctuate with the draw
    of W, most at small d): exactly the sizes whose critical rate is below 0.5 are reported
    and left out of the frontier, a simulation there is not scored, the JSON stays valid."""
    from hild.theory import PowerLawRandomFeatures, critical_lr

    cfg = tmp_path / "unstable.toml"
    cfg.write_text(CONFIG.replace("lr = 0.2", "lr = 0.5").replace("simulate = [16]", "simulate = [64]")
                   .replace("seeds = 16", "seeds = 4")
                   .replace("simulate_compute_max = 3e4", "simulate_compute_max = 1e4"))
    out = tmp_path / "out"
    assert main(["scaling", str(cfg), "-o", str(out)]) == 0
    summary = json.loads((out / "scaling.json").read_text())  # strict JSON: no NaN
    unstable = [d for d in summary["sizes"]
                if float(critical_lr(PowerLawRandomFeatures(1.0, 0.3, 256, d).least_squares(), 1)) < 0.5]
    assert summary["diverged_sizes"] == unstable and 64 in unstable
    assert summary["simulation"]["64"]["max_abs_z"] is None
    assert f"diverged: the rate is unstable at d = {unstable}" in capsys.readouterr().out
