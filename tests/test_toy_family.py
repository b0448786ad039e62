"""The family interface, proved by a family that lives in tests/plugins/hild_toy only (a
package of its own): its modules and its TOML register it, and it runs through predict
(exact recursion and high-d limit), simulate, agreement and overlays of a named observable,
tune, and every CLI command — with no line of hild naming it."""

import json

import matplotlib
import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild import agreement, overlay
from hild.compare import tune_figures
from hild.compare import tune as T
from hild.compare.cli import main
from hild_toy.theory import NoisyQuadratic

matplotlib.use("Agg")


def test_it_registered_itself():
    assert th.problem_class("toy") is NoisyQuadratic
    assert type(simulate.simulation_of(NoisyQuadratic(10, 0.1))).__name__ == "NoisyQuadraticSimulation"


def test_recursion_and_ode_give_their_closed_forms():
    """β = 0: a_k = a∞ + (1 - a∞) q^k with q = (1 - η/d)², a∞ = γ²σ²/(B(1 - q)), overlap
    1 - (1 - γ)^k, to round-off; the ODE: a∞' = ησ²/(2B), rates 2η/B and η/B (rtol 1e-8)."""
    d, sigma, eta, batch = 40, 0.5, 0.8, 2
    problem, opt = NoisyQuadratic(d, sigma), th.SGD(eta, batch=batch)
    curve = th.predict(problem, opt, steps=300, num_points=11)
    k, gamma = np.asarray(curve.step), eta / d
    q = (1 - gamma) ** 2
    a_inf = gamma**2 * sigma**2 / (batch * (1 - q))
    np.testing.assert_allclose(curve.risk, 0.5 * (a_inf + (1 - a_inf) * q**k), rtol=1e-12)
    np.testing.assert_allclose(curve.observables["overlap"], 1 - (1 - gamma) ** k, rtol=1e-12)
    ode = th.predict(problem, opt, t=5.0, num_points=11, method="limit", rtol=1e-10, atol=1e-12)
    t, a_inf = np.asarray(ode.t), eta * sigma**2 / (2 * batch)
    np.testing.assert_allclose(ode.risk, 0.5 * (a_inf + (1 - a_inf) * np.exp(-2 * eta * t / batch)),
                               rtol=1e-8)
    np.testing.assert_allclose(ode.observables["overlap"], 1 - np.exp(-eta * t / batch), rtol=1e-8)
    assert ode.metadata["method_label"] == "high-d ODE" and ode.metadata["d"] == d


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_simulation_agrees_in_risk_and_observable(momentum, tmp_path):
    """400 seeds at d = 100 (float64): both the risk and the named observable within 3 SE at
    every recorded point; saved and loaded with the observable; drawn in an overlay."""
    problem, opt = NoisyQuadratic(100, 0.5), th.SGD(0.8 * (1 - momentum), batch=2, momentum=momentum)
    theory = th.predict(problem, opt, t=4.0, num_points=9)
    sim = simulate.simulate(problem, opt, t=4.0, num_points=9, seeds=400, key=3, dtype="float64")
    for name in ("risk", "overlap"):
        report = agreement(theory, sim, observable=name)
        assert report.z.size == 8 and report.within(3.0), (name, str(report))
    sim.save(tmp_path / "sim")
    back = th.Curve.load(tmp_path / "sim")
    np.testing.assert_array_equal(back.observables["overlap"], sim.observables["overlap"])
    header = (tmp_path / "sim.csv").read_text().splitlines()[0].split(",")
    assert header == ["observable", "step", "t", "mean", "stderr"]
    fig = overlay(theory, sim, observable="overlap", logy=False)
    assert "overlap" in fig.axes[0].get_ylabel()


def test_tune_and_the_stability_limit():
    problem = NoisyQuadratic(50, 0.5)
    result = T.tune(problem, th.SGD(0.5), {"lr": np.geomspace(0.1, 200.0, 15), "batch": [1, 4]}, 4.0,
                    num_points=20)
    best = th.predict(problem, result.best, t=4.0, num_points=20).risk[-1]
    assert result.best_value == pytest.approx(float(best), rel=1e-12)
    assert not np.all(np.isfinite(result.values))  # the grid crosses η = 2d
    np.testing.assert_allclose(tune_figures.critical_line(problem, result.best, "batch", [1, 4]), 100.0)


def test_every_cli_command(tmp_path, capsys):
    config = str(NoisyQuadratic.example_config)
    out = tmp_path / "compare"
    assert main(["compare", config, "-o", str(out)]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"overlay.png", "overlay_overlap.png", "agreement.json", "theory.csv"} <= names
    report = json.loads((out / "agreement.json").read_text())
    assert report["max_abs_z"] <= 3.0 and report["observables"]["overlap"]["max_abs_z"] <= 3.0
    assert main(["tune", config, "-o", str(tmp_path / "tune")]) == 0
    assert (tmp_path / "tune" / "phase_diagram.png").is_file()
    assert main(["example", "toy"]) == 0 and 'family = "toy"' in capsys.readouterr().out
    assert main(["bench", "toy", "--quick"]) == 0
    assert "grid" in capsys.readouterr().out
    assert main(["predict", "--family", "toy", "-o", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "theory_overlap.png").is_file()
