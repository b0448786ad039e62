"""Core pieces: schedules, SGD, Curve save/load, the family registry, the record grid."""

import os

import jax.numpy as jnp
import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild.theory import schedules


def test_schedule_formulas():
    t = jnp.array([0.0, 1.0, 2.5, 10.0, 20.0])
    np.testing.assert_allclose(schedules.constant(0.3)(t), 0.3)
    np.testing.assert_allclose(schedules.step_decay(1.0, [1.0, 10.0], 0.5)(t), [1, 0.5, 0.5, 0.25, 0.25])
    cos = schedules.cosine(1.0, t_max=10.0, final=0.1)(t)
    np.testing.assert_allclose(cos, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * np.minimum(t, 10) / 10)))
    np.testing.assert_allclose(schedules.polynomial(2.0, t0=2.0, power=0.5)(t), 2.0 / np.sqrt(1 + t / 2))
    pc = schedules.piecewise_constant([3.0, 2.0, 1.0], t_max=6.0)
    np.testing.assert_allclose(pc.boundaries, [2.0, 4.0])
    np.testing.assert_allclose(pc(t), [3.0, 3.0, 2.0, 1.0, 1.0])


@pytest.mark.parametrize("make, match", [
    (lambda: schedules.constant(0.0), r"constant.value must be > 0"),
    (lambda: schedules.cosine(1.0, t_max=-1.0), r"cosine.t_max must be > 0"),
    (lambda: schedules.step_decay(1.0, [1.0], factor=1.5), r"step_decay.factor must be in \(0, 1\]"),
    (lambda: schedules.polynomial(1.0, t0=1.0, power=float("nan")), r"polynomial.power must be finite"),
    (lambda: schedules.piecewise_constant([1.0, 2.0], [1.0, 2.0]), "one more entry than boundaries"),
    (lambda: schedules.piecewise_constant([1.0, 2.0, 3.0], [2.0, 1.0]), "strictly increasing"),
])
def test_bad_schedules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=0.0), r"SGD.lr must be > 0"),
    (dict(lr=-1.0), r"SGD.lr must be > 0"),
    (dict(lr=float("nan")), r"SGD.lr must be finite"),
    (dict(lr=0.1, batch=0), r"SGD.batch must be an integer >= 1"),
    (dict(lr=0.1, batch=2.5), r"SGD.batch must be an integer >= 1"),
    (dict(lr=0.1, momentum=1.0), r"SGD.momentum must be in \[0, 1\)"),
    (dict(lr=0.1, momentum=-0.1), r"SGD.momentum must be in \[0, 1\)"),
])
def test_bad_sgd(kwargs, match):
    with pytest.raises(ValueError, match=match):
        th.SGD(**kwargs)


def test_optimizer_and_schedule_config_round_trip():
    for opt in (th.SGD(0.3, batch=4, momentum=0.5),
                th.SGD(schedules.cosine(1.0, 5.0, 0.01), batch=2),
                th.SGD(schedules.piecewise_constant([1.0, 0.5], [3.0]))):
        back = th.optimizer_from_config(th.Table(opt.to_config(), "optimizer"))
        assert back.to_config() == opt.to_config()


def test_unknown_and_mistyped_config_fields_are_named():
    with pytest.raises(th.ConfigError, match=r"optimizer.lerning_rate: unknown field"):
        th.optimizer_from_config(th.Table({"lr": 0.1, "lerning_rate": 0.1}, "optimizer"))
    with pytest.raises(th.ConfigError, match=r"optimizer.batch: expected an integer"):
        th.optimizer_from_config(th.Table({"lr": 0.1, "batch": "8"}, "optimizer"))


@pytest.mark.parametrize("kind", ["theory", "simulation"])
def test_curve_save_load_round_trip(tmp_path, kind):
    problem = th.LinearRegression(th.spectra.power_law(12, 1.0), noise=0.1)
    opt = th.SGD(schedules.cosine(0.8, 2.0), batch=2, momentum=0.2)
    if kind == "theory":
        curve = th.predict(problem, opt, t=2.0, num_points=7)
    else:
        curve = simulate.simulate(problem, opt, t=2.0, num_points=7, seeds=3, key=0, dtype="float64")
    written = curve.save(tmp_path / "run.v1")
    seeds = {"run.v1.seeds.csv"} if kind == "simulation" else set()
    assert {p.name for p in written} == {"run.v1.csv", "run.v1.json", "run.v1.state.npz"} | seeds
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
    back = th.Curve.load(tmp_path / "run.v1.csv")
    np.testing.assert_array_equal(back.step, curve.step)
    np.testing.assert_array_equal(back.t, curve.t)
    np.testing.assert_array_equal(back.risk, curve.risk)
    np.testing.assert_array_equal(back.state.a, curve.state.a)
    np.testing.assert_array_equal(back.diverged, curve.diverged)
    assert back.problem.to_config() == curve.problem.to_config()
    assert back.optimizer.to_config() == curve.optimizer.to_config()
    assert back.metadata == curve.metadata


def test_diverged_curve_saves_inf_not_nan(tmp_path):
    problem = th.LinearRegression(th.spectra.isotropic(10))
    curve = th.predict(problem, th.SGD(3.0), t=100.0, num_points=5)
    assert bool(curve.diverged)
    curve.save(tmp_path / "c")
    text = (tmp_path / "c.csv").read_text()
    assert "inf" in text and "nan" not in text.lower()


def test_family_registry():
    assert th.families()["linreg"] is th.LinearRegression
    with pytest.raises(ValueError, match="family must be one of"):
        th.problem_class("no-such-family")


def test_a_family_without_its_required_hooks_fails_where_it_is_defined():
    with pytest.raises(TypeError, match=r"Bare \(family 'bare'\) must define initial_state, methods"):
        class Bare(th.AbstractProblem):
            family = "bare"
    with pytest.raises(TypeError, match="each kind must be one of recursion, ode, closed"):
        class Odd(th.AbstractProblem):
            family = "odd"
            methods = {"exact": "scan"}

            def initial_state(self, init=None):
                return 0.0
    assert "bare" not in th.family_names() and "odd" not in th.family_names()


def test_a_pair_without_a_theory_and_a_problem_without_a_simulation_are_type_errors():
    class Toy(th.AbstractProblem):
        family = "toy_without_theory"
        methods = {"exact": "recursion"}

        def initial_state(self, init=None):
            return 0.0

    with pytest.raises(TypeError, match=r"no theory for SGD on Toy \(toy_without_theory\); its "
                                        r"theories: none \(simulation needs none\)"):
        th.predict(Toy(), th.SGD(0.1), steps=3)
    with pytest.raises(TypeError, match="no simulation of Toy"):
        simulate.simulate(Toy(), th.SGD(0.1), steps=3, key=0)
    problem = th.LinearRegression(th.spectra.isotropic(10))
    with pytest.raises(TypeError, match=r"no theory for ProxLinear on LinearRegression \(linreg\); "
                                        r"its theories: ASGD, AdaptiveSGD, Averaged, .*Nesterov, .*SGD"):
        th.predict(problem, th.ProxLinear(1.0), steps=3)


def test_record_steps():
    np.testing.assert_array_equal(th.record_steps(10, 3), [0, 5, 10])
    steps = th.record_steps(1000, 20, "log")
    assert steps[0] == 0 and steps[1] == 1 and steps[-1] == 1000
    assert np.all(np.diff(steps) > 0)


def test_scan_with_records_repeats_active_steps_and_divergence():
    import jax.numpy as jnp

    count = th.scan_with_records(lambda c, k, x: c + 1.0, lambda c: (c, 2 * c), jnp.asarray(0.0), 10,
                                 jnp.array([0, 0, 3, 3, 7, 10]), jnp.asarray(1e9))
    np.testing.assert_array_equal(count.risk, [0, 0, 3, 3, 7, 10])
    np.testing.assert_array_equal(count.observed, [0, 0, 6, 6, 14, 20])
    stopped = th.scan_with_records(lambda c, k, x: c + 1.0, lambda c: (c, c), jnp.asarray(0.0), 10,
                                   jnp.array([2, 5]), jnp.asarray(1e9), active_steps=jnp.asarray(4))
    np.testing.assert_array_equal(stopped.risk, [2, 4])  # frozen after step 4
    assert float(stopped.final) == 4.0
    blown = th.scan_with_records(lambda c, k, x: 3 * c, lambda c: (c, c), jnp.asarray(1.0), 20,
                                 jnp.array([2, 5, 15]), jnp.asarray(1e4))
    np.testing.assert_array_equal(blown.risk, [9, 243, np.inf])
    assert int(blown.diverged_step) == 9 and bool(blown.diverged)
    assert float(blown.final) == 3.0**8  # the last state below the threshold


def test_scan_with_records_draws_inputs_in_chunks_with_the_same_result():
    """Inputs drawn for chunks of steps at once (the last chunk padded) give what one draw
    per step gives, divergence included."""
    import jax
    import jax.numpy as jnp

    inputs = lambda k: jax.random.normal(jax.random.fold_in(jax.random.key(0), k), (3,))
    run = lambda chunk, factor: th.scan_with_records(
        lambda c, k, x: factor * c + x, lambda c: (jnp.sum(c**2), c), jnp.zeros(3), 23,
        jnp.array([0, 4, 10, 23]), jnp.asarray(1e6), inputs=inputs, chunk=chunk)
    for factor in (0.5, 3.0):
        one = run(1, factor)
        for chunk in (4, 8, 23):
            out = run(chunk, factor)
            np.testing.assert_array_equal(out.risk, one.risk)
            np.testing.assert_array_equal(out.observed, one.observed)
            assert int(out.diverged_step) == int(one.diverged_step)
    assert int(run(4, 3.0).diverged_step) > 0


def test_vmap_over_batch_at_a_fixed_sample_budget():
    """A traced batch with t= runs each element for its own t d / B steps."""
    import jax
    import jax.numpy as jnp

    problem = th.LinearRegression(th.spectra.power_law(50, 1.5), noise=0.1)
    run = lambda b: th.predict(problem, th.SGD(0.8, batch=b), t=4.0, num_points=5,
                               save_state=False)
    out = jax.vmap(run)(jnp.array([1.0, 2.0, 4.0]))
    for row, batch in enumerate((1, 2, 4)):
        steps = np.asarray(out.step[row])
        np.testing.assert_array_equal(steps, np.round(np.linspace(0, 4.0, 5) * 50 / batch))
        exact = th.predict(problem, th.SGD(0.8, batch=batch), steps=int(steps[-1]),
                           num_points=int(steps[-1]) + 1, save_state=False)
        np.testing.assert_allclose(out.risk[row], np.asarray(exact.risk)[steps], rtol=1e-12)
