"""Full-batch GD on a fixed training set (docs/theory.md, Full-batch GD): the exact method is
GD on the simulator's own data sets, the high-d limit meets the closed forms of Marchenko–
Pastur (δ(z), the min-norm / least-squares risks at t → ∞), and bad input names its field."""

import jax.numpy as jnp
import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild.theory.fullbatch import FullBatchRegression, resolvent_delta


def test_exact_method_is_gd_on_the_simulated_data_sets():
    """No label noise: the exact curve of each data set is a deterministic function of X, so
    its mean over the data sets `simulate` draws with the same key is the simulated mean, to
    round-off (ridge, momentum, a non-zero start and a power-law spectrum included)."""
    d = 30
    problem = FullBatchRegression(
        th.spectra.power_law(d, 1.0), 45, ridge=0.05, init=np.full(d, 0.2)
    )
    opt = th.SGD(
        0.5 * float(problem.stability_limit(th.SGD(1.0, momentum=0.5))), momentum=0.5
    )
    exact = th.predict(
        problem, opt, steps=150, num_points=6, method="exact", datasets=3, seed=4
    )
    sim = simulate.simulate(
        problem, opt, steps=150, num_points=6, seeds=3, key=4, dtype="float64"
    )
    np.testing.assert_allclose(exact.risk, sim.risk.mean(0), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(
        exact.observables["train"],
        sim.observables["train"].mean(0),
        rtol=1e-10,
        atol=1e-14,
    )


def test_resolvent_delta_is_marchenko_pastur_for_isotropic_data():
    r"""Σ = I, γ = d/n: δ solves $z\delta^2 + (z + \gamma - 1)\delta + \gamma = 0$; the
    Stieltjes branch has Im δ > 0 for Im z > 0."""
    d, n = 120, 60
    z = np.array([-0.5 + 0.1j, 1.0 + 0.5j, 3.0 + 0.01j, 0.05 + 0.02j])
    gamma = d / n
    b = z + gamma - 1
    roots = np.stack(
        [(-b + s * np.sqrt(b * b - 4 * z * gamma)) / (2 * z) for s in (1, -1)]
    )
    want = np.where(roots[0].imag > 0, roots[0], roots[1])
    np.testing.assert_allclose(resolvent_delta(np.ones(d), n, z), want, rtol=1e-10)


@pytest.mark.parametrize("alpha", [0.5, 2.0])
def test_limit_at_long_times_is_the_min_norm_or_least_squares_risk(alpha):
    r"""Isotropic, ridgeless, noise σ: GD from 0 converges to the min-norm interpolator (α < 1)
    or least squares (α > 1); at d → ∞ (Hastie et al. 2022) the test risk is
    $\frac12[(1-\alpha) + \sigma^2\alpha/(1-\alpha)]$ or $\frac12\sigma^2/(\alpha - 1)$, and
    the train risk 0 or $\frac12\sigma^2(1 - 1/\alpha)$."""
    d, sigma = 200, 0.5
    problem = FullBatchRegression(th.spectra.isotropic(d), int(alpha * d), noise=sigma)
    lr = 0.5 * float(problem.stability_limit(th.SGD(1.0)))
    curve = th.predict(problem, th.SGD(lr), steps=1500, num_points=2)
    # t = 0 (quadrature of 384 contour points: ~1e-8): test ½|θ*|², train ½(|θ*|² + σ²)
    assert float(curve.risk[0]) == pytest.approx(0.5, rel=1e-6)
    assert float(curve.observables["train"][0]) == pytest.approx(
        0.5 * (1 + sigma**2), rel=1e-6
    )
    if alpha < 1:
        test, train = 0.5 * ((1 - alpha) + sigma**2 * alpha / (1 - alpha)), 0.0
    else:
        test, train = 0.5 * sigma**2 / (alpha - 1), 0.5 * sigma**2 * (1 - 1 / alpha)
    assert float(curve.risk[-1]) == pytest.approx(test, rel=1e-6)
    assert float(curve.observables["train"][-1]) == pytest.approx(train, abs=1e-7)


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: FullBatchRegression(np.ones(10), 1),
            "FullBatchRegression.samples must be an integer >= 2",
        ),
        (
            lambda: FullBatchRegression(np.ones(10), 2.5),
            "FullBatchRegression.samples must be an integer >= 2",
        ),
        (
            lambda: FullBatchRegression(np.ones(10), 20, ridge=-0.1),
            "FullBatchRegression.ridge must be >= 0",
        ),
        (
            lambda: FullBatchRegression(np.ones(10), 20, noise=-1.0),
            "FullBatchRegression.noise must be >= 0",
        ),
        (
            lambda: FullBatchRegression(np.ones(10), 20, teacher=np.ones(3)),
            "FullBatchRegression.teacher must be a 1-D array of length 10",
        ),
        (
            lambda: FullBatchRegression(np.array([1.0, np.nan]), 20),
            "FullBatchRegression.spectrum must be finite",
        ),
        (
            lambda: FullBatchRegression(np.zeros(4), 20),
            "FullBatchRegression.spectrum must have a positive entry",
        ),
    ],
)
def test_bad_problem_names_the_field(build, message):
    with pytest.raises(
        ValueError, match=message.replace("(", r"\(").replace(".", r"\.")
    ):
        build()


def test_batch_other_than_n_is_refused():
    problem = FullBatchRegression(np.ones(10), 20)
    with pytest.raises(ValueError, match="SGD.batch: full-batch GD uses all"):
        th.predict(problem, th.SGD(0.1, batch=5), steps=3)
    with pytest.raises(ValueError, match="datasets must be an integer >= 1"):
        th.predict(problem, th.SGD(0.1), steps=3, method="exact", datasets=0)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"alpha": 0.0}, "problem.alpha: must be > 0"),
        ({"alpha": -1.0}, "problem.alpha: must be > 0"),
        ({}, "give exactly one of samples"),
        ({"alpha": 1.0, "samples": 10}, "give exactly one of samples"),
        ({"samples": 1}, "FullBatchRegression.samples must be an integer >= 2"),
        ({"samples": 10, "ridge": -1.0}, "FullBatchRegression.ridge must be >= 0"),
    ],
)
def test_bad_config_names_the_field(fields, message):
    table = th.Table({"spectrum": {"kind": "isotropic", "d": 10}, **fields}, "problem")
    with pytest.raises(ValueError, match=message):
        FullBatchRegression.from_config(table)


def test_config_round_trip_and_alpha():
    table = th.Table(
        {"spectrum": {"kind": "isotropic", "d": 40}, "alpha": 0.5, "ridge": 0.1},
        "problem",
    )
    problem = FullBatchRegression.from_config(table)
    assert problem.samples == 20 and problem.alpha == 0.5
    again = FullBatchRegression.from_config(th.Table(problem.to_config(), "problem"))
    assert again.samples == 20 and float(again.ridge) == 0.1
    assert jnp.allclose(again.spectrum, problem.spectrum)
