"""Single-index models: the finite-d network against the ODEs (docs/theory.md, Single-index
models, What the tests measured).

z = (mean over seeds − theory)/SE at 10 checkpoints. Cheap settings (d = 400, 64 seeds);
scripts/validate_single_index.py runs the large-d, many-seed version and the d-scaling."""

import numpy as np

from hild import simulate
from hild import theory as th
from hild import agreement
from hild.compare import per_seed_theory, seed_states
from hild.theory.single_index import SingleIndex, SingleIndexState


def test_relu_with_noise_and_weight_decay_agrees_with_the_ode():
    """A random start per seed: the theory from every seed's measured (m0, q0) (at t = 0
    |m0| ~ d^-1/2 > 0, which the d = ∞ start m = 0 misses by 10 SE)."""
    problem = SingleIndex("relu", noise=0.3, weight_decay=0.05)
    opt = th.SGD(0.8)
    sim = simulate.simulate(problem, opt, t=3.0, d=400, seeds=64, key=1, num_points=11)
    curve = per_seed_theory(problem, opt, seed_states(sim), t=3.0, num_points=11)
    for name in ("risk", "alignment"):
        report = agreement(curve, sim, observable=name)
        assert report.within(4.0), (name, str(report))
    assert curve.risk[-1] < 0.6 * curve.risk[0]  # it learned


def test_spherical_simulation_is_projected_sgd_from_the_given_start():
    """A given start: every seed starts at (m, q) = (0.3, 1) on the sphere, q stays 1, and
    the mean follows the ODE; `simulate.initial_states` gives the simulation's t = 0 states."""
    problem = SingleIndex("erf", spherical=True, init=SingleIndexState(0.3, 1.0))
    opt = th.SGD(0.5)
    sim = simulate.simulate(problem, opt, t=1.5, d=300, seeds=48, key=2, num_points=6)
    np.testing.assert_allclose(np.asarray(sim.state.q), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.asarray(sim.state.m)[:, 0], 0.3, atol=1e-5)
    curve = th.predict(problem, opt, t=1.5, num_points=6)
    assert agreement(curve, sim, observable="alignment").within(4.0)
    assert curve.observables["alignment"][-1] > 0.45  # it learned (from 0.3)
    states = simulate.initial_states(problem, d=300, seeds=48, key=2)
    np.testing.assert_allclose(states.m, sim.state.m[:, 0], atol=1e-6)  # float32 round-off
