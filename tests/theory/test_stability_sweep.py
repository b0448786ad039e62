"""The stability limit of the theory that runs (issue 25): each family's limit under each
method against that method's own finite/diverged verdict, the data-set recursion's limit
against its brute-force spectral radius, and the CLI's note."""

import jax
import numpy as np
import pytest

import hild.theory as th
from hild.theory.dataset import exact_critical_lr
from hild.theory.fullbatch import limit_accurate_lr

jax.config.update("jax_enable_x64", True)


def _data(n=30, d=5, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)) * np.array([3, 1, 1, .5, .2]) + (rng.random((n, d)) < 0.1) * 4
    return x, x @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)


def _radius(problem, eta, batch):
    """Brute force: the spectral radius of the exact recursion's linear map A -> L(A)."""
    z, lam = np.asarray(problem.eigen_inputs()), np.asarray(problem.spectrum)
    n, d = z.shape
    gamma, p = eta / d, np.diag(1 - eta / d * lam)
    columns = []
    for k in range(d * d):
        a = np.zeros(d * d)
        a[k] = 1.0
        a = a.reshape(d, d)
        f = (z.T * np.sum((z @ a) * z, 1)) @ z / n
        columns.append((p @ a @ p + gamma**2 / batch * (f - np.diag(lam) @ a @ np.diag(lam))).ravel())
    return np.max(np.abs(np.linalg.eigvals(np.array(columns).T)))


@pytest.mark.parametrize("batch", [1, 4])
def test_data_set_limit_is_the_exact_recursions_spectral_radius(batch):
    problem = th.DataSetRegression(*_data())
    eta = exact_critical_lr(problem, batch)
    assert _radius(problem, 0.999 * eta, batch) < 1 < _radius(problem, 1.001 * eta, batch)
    assert float(th.critical_lr(problem, batch)) == pytest.approx(eta, rel=1e-12)
    gaussian = float(th.critical_lr(problem, batch, method="gaussian"))
    assert gaussian == pytest.approx(float(th.critical_lr(problem.gaussian_equivalent(), batch)))
    assert abs(gaussian / eta - 1) > 0.05  # the proxy would answer for another theory


def test_no_formula_is_an_error_not_another_theorys_number():
    with pytest.raises(TypeError, match="no stability formula"):
        th.critical_lr(th.SingleIndex("relu"))
    assert th.stability_limit(th.DataSetRegression(*_data()), th.SGD(0.1, momentum=0.5)) is None


CASES = {  # (problem, method, horizon): every family with a formula, each of its methods
    "linreg exact": (lambda: th.LinearRegression(th.spectra.power_law(20, 1.0), noise=0.1),
                     "exact", {"steps": 3000}),
    "linreg limit": (lambda: th.LinearRegression(th.spectra.power_law(20, 1.0), noise=0.1),
                     "limit", {"t": 150.0}),
    "dataset exact": (lambda: th.DataSetRegression(*_data()), "exact", {"steps": 3000}),
    "dataset gaussian": (lambda: th.DataSetRegression(*_data()), "gaussian", {"steps": 3000}),
    "fullbatch exact": (lambda: th.FullBatchRegression(th.spectra.power_law(20, 1.0), 40,
                                                       noise=0.1), "exact", {"steps": 100}),
    "power_law_rf volterra": (lambda: th.PowerLawRandomFeatures(1.0, 0.7, 64, 16), "volterra",
                              {"steps": 20_000}),
    "single_index limit": (lambda: th.SingleIndex("linear", noise=0.1), "limit", {"t": 60.0}),
}


SLOW_CASES = {  # multi-pass SGD: 20-110 s each on a loaded 2-core machine
    "multipass exact": (lambda: th.MultiPassRegression(th.spectra.power_law(12, 0.5), 18,
                                                       noise=0.3, ridge=0.01), "exact",
                        {"steps": 1500}),
    "multipass limit": (lambda: th.MultiPassRegression(th.spectra.power_law(30, 0.5) * 2, 45,
                                                       noise=0.3, ridge=0.01), "limit",
                        {"steps": 1500}),
}


@pytest.mark.parametrize("case", sorted(CASES) + [pytest.param(c, marks=pytest.mark.slow)
                                                  for c in sorted(SLOW_CASES)])
def test_each_methods_verdict_flips_at_its_own_limit(case):
    build, method, horizon = {**CASES, **SLOW_CASES}[case]
    problem = build()
    options = {"datasets": 3} if case.startswith(("fullbatch", "multipass")) else {}
    limit = float(th.stability_limit(problem, th.SGD(1.0), method, **options))
    verdicts = [bool(th.predict(problem, th.SGD(frac * limit), method=method, num_points=4,
                                save_state=False, **horizon, **options).diverged)
                for frac in (0.85, 1.25)]
    assert verdicts == [False, True], (case, limit)


def test_fullbatch_limit_refuses_the_range_it_cannot_compute():
    problem = th.FullBatchRegression(np.ones(20), 40, noise=0.1)
    top = limit_accurate_lr(problem)
    assert top < float(th.stability_limit(problem, th.SGD(1.0), "limit"))
    with pytest.raises(ValueError, match=r"^SGD.lr: full-batch GD's 'limit' method is accurate"):
        th.predict(problem, th.SGD(1.01 * top), steps=5, method="limit")
    exact = th.predict(problem, th.SGD(1.01 * top), steps=5, method="exact", datasets=2)
    assert not bool(exact.diverged)


def test_the_note_names_the_chosen_theorys_rate():
    problem = th.LinearRegression(np.ones(50))  # exact 2d/(d+2) = 1.923, limit 2
    assert th.rate_note(problem, th.SGD(1.9)) is None
    assert "'exact' theory" in th.rate_note(problem, th.SGD(1.95))
    assert th.rate_note(problem, th.SGD(1.95), "limit") is None
    assert "1.923" in th.rate_note(problem, th.SGD(1.95)) and "\n" not in th.rate_note(problem, th.SGD(3.0))
