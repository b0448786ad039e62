"""The committee machine's discrete overlap map for B = κd (theory/large_batch.py): its
small-κ limit is the ODE, its critical rate is where the iterated map stops converging, and
it refuses what it does not cover. The comparison with simulations at κ = 0.1, 1, 4 is
scripts/validate_committee_large_batch.py (docs/theory.md, Large batches)."""

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hild import theory as th  # noqa: E402
from hild.theory.committee import CommitteeMachine, Overlaps  # noqa: E402
from hild.theory.large_batch import committee_map, committee_map_critical_lr  # noqa: E402

START = Overlaps(jnp.array([[0.3, 0.05], [0.05, 0.3]]), jnp.array([[0.3, 0.1], [0.05, 0.25]]),
                 jnp.ones(2))


def test_committee_map_tends_to_the_ode():
    problem = CommitteeMachine(2, 2, "erf", noise=0.1, init=START)
    opt = th.SGD(10.0, batch=10)                           # κ = 0.01, η/B = 1
    mp = committee_map(problem, opt, d=1000, steps=100)
    ode = th.predict(problem, opt, t=float(mp.t[-1]), save_at=mp.t)
    np.testing.assert_allclose(mp.risk, np.asarray(ode.risk), rtol=1.5e-2)
    with pytest.raises(ValueError, match="momentum 0"):
        committee_map(problem, th.SGD(1.0, momentum=0.5), d=100, steps=3)


@pytest.mark.slow
def test_committee_map_critical_rate_separates_convergence():
    big = committee_map(CommitteeMachine(2, 2, "erf", noise=0.1, init=START),
                        th.SGD(200.0, batch=200), d=200, steps=3)          # κ = 1
    ode = th.predict(CommitteeMachine(2, 2, "erf", noise=0.1, init=START),
                     th.SGD(200.0, batch=200), t=3.0, save_at=big.t)
    assert np.all(big.risk[1:] > np.asarray(ode.risk)[1:] + 1e-3)   # the dropped mean step
    problem = CommitteeMachine(2, 2, "erf")
    ode = committee_map_critical_lr(problem, 1, float("inf"))
    near = Overlaps(0.95 * jnp.eye(2), 0.95 * jnp.eye(2), jnp.ones(2))
    start = CommitteeMachine(2, 2, "erf", init=near)
    for kappa in (1.0, 4.0):
        B = int(kappa * 100)
        crit = committee_map_critical_lr(problem, B, 100)
        assert crit / B < ode / (1 + 0.5 * kappa)               # the batch lowers η/B
        below = committee_map(start, th.SGD(0.9 * crit, batch=B), d=100, steps=400)
        above = committee_map(start, th.SGD(1.1 * crit, batch=B), d=100, steps=400)
        assert below.risk[-1] < 1e-8 and not above.risk[-1] < 1e-4
    with pytest.raises(ValueError, match="fixed_point"):
        committee_map_critical_lr(CommitteeMachine(2, 1, "erf"), 10, 100)
