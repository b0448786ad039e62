"""Least squares' high-d ODE at a constant rate by Laplace transform (theory._limit_laplace)
against the same ODE integrated by diffrax (a constant schedule takes that path)."""

import jax
import numpy as np
import pytest

from hild import theory as th

jax.config.update("jax_enable_x64", True)


@pytest.mark.parametrize("eta, batch, momentum, t", [
    (0.6, 4, 0.5, 3.0),
    pytest.param(0.5, 1, 0.0, 5.0, marks=pytest.mark.slow),
    pytest.param(2.1, 1, 0.0, 30.0, marks=pytest.mark.slow)])
def test_closed_form_is_the_integrated_ode(eta, batch, momentum, t):
    """Power law α = 1 (stiff: λ_1 ≈ 38), noise, random start; the last case is past the
    ODE's stability limit 2Bd/Σλ = 2 (the contour shifted past the growing root)."""
    d = 200
    rng = np.random.default_rng(0)
    lam = np.asarray(th.spectra.power_law(d, 1.0))
    problem = th.LinearRegression(lam, rng.standard_normal(d) / np.sqrt(d), noise=0.3,
                                  init=rng.standard_normal(d) / np.sqrt(d))
    closed = th.predict(problem, th.SGD(eta, batch, momentum), t=t, num_points=9, method="limit")
    ode = th.predict(problem, th.SGD(lambda s: eta + 0 * s, batch, momentum), t=t, num_points=9,
                     method="limit", rtol=1e-11, atol=1e-14)
    assert closed.metadata["method_label"] == "high-d ODE (Laplace transform)"
    assert not bool(ode.diverged) and not bool(closed.diverged)
    np.testing.assert_allclose(closed.risk, ode.risk, rtol=1e-9)
    np.testing.assert_allclose(closed.state.a, ode.state.a, rtol=1e-7, atol=1e-12)
    if eta > 2:
        assert float(ode.risk[-1]) > 10 * float(ode.risk[1])  # growing, not yet diverged


@pytest.mark.slow
def test_closed_form_takes_gradients():
    lam = th.spectra.power_law(64, 1.2)

    def final(lr):
        p = th.LinearRegression(lam, noise=0.1)
        return th.predict(p, th.SGD(lr), t=2.0, num_points=3, method="limit",
                          save_state=False).risk[-1]

    grad, h = jax.grad(final)(0.5), 1e-5
    np.testing.assert_allclose(grad, (final(0.5 + h) - final(0.5 - h)) / (2 * h), rtol=1e-6)
