"""Multi-pass SGD on a finite training set (docs/theory.md, Multi-pass SGD): at B = n without
replacement it is full-batch GD (theory and simulation), the exact per-data-set recursion
meets real SGD with replacement on the same data sets, the homogenized limit meets SGD at
d = 200, and bad input names its field."""

import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild.theory.fullbatch import FullBatchRegression
from hild.theory.multipass import MultiPassRegression


def _z(sim_values, predicted):
    values = np.asarray(sim_values)
    se = values.std(0, ddof=1) / np.sqrt(values.shape[0])
    return (values.mean(0) - np.asarray(predicted))[1:] / se[1:]


def test_batch_n_without_replacement_is_full_batch_gd():
    """B = n: every step uses every row, so the "marginal" recursion (noise factor 0) is
    FullBatchRegression's exact GD on the same data sets (no label noise: its closed-form
    noise average is exact), at per-step size lr/d."""
    d, n = 12, 8
    problem = MultiPassRegression(th.spectra.power_law(d, 1.0), n, ridge=0.05,
                                  sampling="cyclic", init=np.full(d, 0.2))
    horizon = {"steps": 80, "num_points": 5}
    mine = th.predict(problem, th.SGD(1.5, batch=n, momentum=0.3), **horizon, method="marginal",
                      datasets=3, seed=2, data_dtype="float64")
    gd = th.predict(problem.full_batch(), th.SGD(1.5 / d, momentum=0.3), **horizon,
                    method="exact", datasets=3, seed=2)
    np.testing.assert_allclose(mine.risk, gd.risk, rtol=1e-10)
    np.testing.assert_allclose(mine.observables["train"], gd.observables["train"], rtol=1e-10)


@pytest.mark.slow
def test_batch_n_reshuffled_simulation_is_the_marginal_recursion():
    """B = n with label noise: reshuffled SGD is GD on the drawn labels, which the per-data-set
    recursion conditions on (float64, the same data sets)."""
    d, n = 12, 8
    noisy = MultiPassRegression(th.spectra.power_law(d, 1.0), n, noise=0.5, ridge=0.05,
                                sampling="reshuffle")
    opt = th.SGD(1.5, batch=n, momentum=0.3)
    horizon = {"steps": 80, "num_points": 5}
    sim = simulate.simulate(noisy, opt, **horizon, seeds=3, key=2, dtype="float64")
    exact = th.predict(noisy, opt, **horizon, method="marginal", datasets=3, seed=2,
                       data_dtype="float64")
    np.testing.assert_allclose(sim.risk.mean(0), exact.risk, rtol=1e-10)
    np.testing.assert_allclose(sim.observables["train"].mean(0), exact.observables["train"],
                               rtol=1e-10)


@pytest.mark.slow
def test_exact_recursion_meets_sgd_with_replacement_on_the_same_data_sets():
    """d = 6, n = 9, B = 2, ridge, momentum: the mean over 256 data sets (one SGD run each)
    within 3.5 standard errors of the exact curve of those data sets at every record."""
    problem = MultiPassRegression(th.spectra.power_law(6, 1.0), 9, noise=0.5, ridge=0.1)
    opt = th.SGD(0.5, batch=2, momentum=0.3)
    horizon = {"steps": 45, "num_points": 4}
    exact = th.predict(problem, opt, **horizon, method="exact", datasets=256, seed=3)
    sim = simulate.simulate(problem, opt, **horizon, seeds=256, key=3)
    assert np.max(np.abs(_z(sim.risk, exact.risk))) < 3.5
    assert np.max(np.abs(_z(sim.observables["train"], exact.observables["train"]))) < 3.5


@pytest.mark.slow
def test_limit_meets_multipass_sgd_at_d_200():
    """Homogenized SGD (docs/theory.md, Multi-pass SGD) against 32 data sets at d = 200,
    α = 0.5, σ = 0.5, B = 4, 10 epochs: test and train risk within 3.5 standard errors."""
    d = 200
    problem = MultiPassRegression(th.spectra.isotropic(d), d // 2, noise=0.5)
    opt = th.SGD(2.0, batch=4)
    horizon = {"steps": problem.steps_for_epochs(10, 4), "num_points": 6, "spacing": "log"}
    limit = th.predict(problem, opt, **horizon, method="limit")
    sim = simulate.simulate(problem, opt, **horizon, seeds=32, key=5, save_state=False)
    assert np.max(np.abs(_z(sim.risk, limit.risk))) < 3.5
    assert np.max(np.abs(_z(sim.observables["train"], limit.observables["train"]))) < 3.5


def test_bad_input_names_the_field():
    spec = th.spectra.isotropic(4)
    with pytest.raises(ValueError, match="MultiPassRegression.samples"):
        MultiPassRegression(spec, 0)
    with pytest.raises(ValueError, match="MultiPassRegression.sampling"):
        MultiPassRegression(spec, 4, sampling="random")
    with pytest.raises(ValueError, match=r"SGD.batch must be <= MultiPassRegression.samples = 4"):
        MultiPassRegression(spec, 4, sampling="reshuffle").clock(th.SGD(1.0, batch=5))
    MultiPassRegression(spec, 4).clock(th.SGD(1.0, batch=5))  # with replacement: any batch
    with pytest.raises(ValueError, match="^epochs: .* over the step count's limit"):
        MultiPassRegression(spec, 4000).steps_for_epochs(1e6, 1)
    with pytest.raises(ValueError, match="use method = 'marginal'"):
        th.predict(MultiPassRegression(spec, 4, sampling="cyclic"), th.SGD(1.0), 4, method="exact")
    with pytest.raises(ValueError, match="use method = 'exact'"):
        th.predict(MultiPassRegression(spec, 4), th.SGD(1.0), 4, method="marginal")


@pytest.mark.parametrize("sampling", ["reshuffle", "cyclic"])
def test_without_replacement_every_epoch_uses_every_row_once(sampling):
    """n = 6, B = 4: the rows of steps 0..5 (4 epochs, batches straddling epochs) are 4
    permutations of the rows; cyclic ones are 0..n-1 each time, reshuffled ones differ."""
    import jax

    from hild.simulate.multipass import MultiPassSimulation

    problem = MultiPassRegression(th.spectra.isotropic(3), 6, sampling=sampling)
    x = np.arange(6.0)[:, None] * np.ones((1, 3))
    fixed = (x, np.arange(6.0), None, None)
    rows = np.concatenate([np.asarray(MultiPassSimulation().sample_at(
        problem, fixed, jax.random.key(0), k, 4)[1]) for k in range(6)]).reshape(4, 6)
    assert all(sorted(epoch) == list(range(6)) for epoch in rows)
    assert (np.all(rows == np.arange(6)) if sampling == "cyclic"
            else len({tuple(epoch) for epoch in rows}) > 1)
