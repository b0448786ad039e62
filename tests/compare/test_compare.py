"""compare/: agreement statistics, overlays and the d-scaling fit."""

import dataclasses

import jax.numpy as jnp
import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild import agreement, overlay
from hild.compare import d_scaling


@pytest.fixture(scope="module")
def pair():
    problem = th.LinearRegression(th.spectra.power_law(40, 1.2), noise=0.1)
    opt = th.SGD(0.8, batch=2)
    return (th.predict(problem, opt, t=4.0, num_points=9),
            simulate.simulate(problem, opt, t=4.0, num_points=9, seeds=64, key=0, dtype="float64"))


def _shift(curve, factor):
    return dataclasses.replace(curve, risk=curve.risk * factor)


def test_agreement_detects_a_wrong_theory(pair):
    theory_curve, sim = pair
    good = agreement(theory_curve, sim)
    assert good.z.size == 8 and good.within(4.0)
    bad = agreement(_shift(theory_curve, 1.2), sim)
    assert bad.max_abs_z > 10 and bad.max_rel > 0.15
    assert bad.t_max_rel in np.asarray(sim.t)


def test_agreement_checkpoints_and_interpolation(pair):
    theory_curve, sim = pair
    assert agreement(theory_curve, sim, checkpoints=4).t.size == 4
    fine = th.predict(theory_curve.problem, theory_curve.optimizer, t=4.0, num_points=161)
    report = agreement(fine, sim)  # theory interpolated onto the simulation's times
    assert report.t.size == 9 and report.within(4.0)


def test_agreement_counts_diverged_seeds(pair):
    theory_curve, sim = pair
    risk = np.asarray(sim.risk).copy()
    risk[0, 5:] = np.inf
    report = agreement(theory_curve, dataclasses.replace(sim, risk=jnp.asarray(risk)))
    assert report.diverged_seeds == 1 and "1 seeds" in str(report)


def test_agreement_rejects_swapped_arguments(pair):
    theory_curve, sim = pair
    with pytest.raises(ValueError, match="sim must be a simulated Curve"):
        agreement(theory_curve, theory_curve)
    with pytest.raises(ValueError, match="theory must be a theory Curve"):
        agreement(sim, sim)


def test_overlay_draws_theory_band_and_seeds(pair, tmp_path):
    theory_curve, sim = pair
    fig = overlay(theory_curve, sim, max_seeds=5)
    ax = fig.axes[0]
    assert "samples / $d$" in ax.get_xlabel() and "risk" in ax.get_ylabel()
    assert ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("theory (exact recursion)" in s for s in labels)
    assert any("64 seeds" in s for s in labels)
    assert len(ax.lines) == 5 + 2  # faint seeds, the mean, the theory line
    assert len(ax.collections) == 1  # the SE band
    path = tmp_path / "overlay.png"
    fig.savefig(path)
    assert path.stat().st_size > 10_000


def test_overlay_marks_divergence():
    problem = th.LinearRegression(th.spectra.isotropic(10))
    curve = th.predict(problem, th.SGD(3.0), t=100.0, num_points=20)
    fig = overlay(curve)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("diverged (step" in s for s in labels)


def test_d_scaling_recovers_an_exponent():
    d = np.array([100, 200, 400, 800])
    fit = d_scaling(d, 3.0 * d**-0.5)
    assert abs(fit.exponent + 0.5) < 1e-12 and abs(fit.prefactor - 3.0) < 1e-9
    assert fit.figure().axes[0].get_xscale() == "log"
    with pytest.raises(ValueError, match="positive and finite"):
        d_scaling(d, [1.0, 0.0, 1.0, 1.0])
