"""Per-seed theory: the theory run from every simulated seed's own initial state, averaged.

Where the initial order parameters fluctuate from seed to seed and the dynamics amplify them
(the escape of an even link from m ~ d^-1/2, the committee plateau), the mean of the simulated
curves follows the mean of the theory curves, not the theory curve of the mean start. Generic:
a seed's state is whatever its family's simulation measures at t = 0 (`Curve.state[:, 0]`,
or `simulate.initial_states`), handed to `problem.initial_state(init)` through `predict`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hild.theory import Curve, predict

PER_SEED = "per_seed"
"""The value of `predict`'s `init` (config: `[theory] init = "per_seed"`) that asks for this."""


def seed_states(sim: Curve):
    """Every seed's measured state at the first recorded time of a simulated Curve."""
    if not sim.is_simulation:
        raise ValueError("per-seed theory needs a simulated Curve (risk of shape (seeds, T))")
    if sim.state is None:
        raise ValueError("per-seed theory needs the simulation's states: run it with save_state")
    if float(np.asarray(sim.t)[0]) != 0.0:
        raise ValueError("per-seed theory needs the simulation's state at t = 0 (its first "
                         f"recorded time is {float(np.asarray(sim.t)[0]):g})")
    return jax.tree.map(lambda x: x[:, 0], sim.state)


def per_seed_theory(problem, optimizer, states, **predict_options) -> Curve:
    """The mean over seeds of `predict(problem, optimizer, init=state_i, ...)`.

    `states`: a pytree with a leading seeds axis (from `seed_states` or
    `simulate.initial_states`). Returns a theory Curve whose risk and observables are the
    means of the per-seed curves (inf where any seed's theory diverged) and no `state` (a
    mean of order parameters would mislead, e.g. ±m of an even link);
    `metadata["init"]` says "per seed (n)"."""
    n = jax.tree.leaves(states)[0].shape[0]
    predict_options = {**predict_options, "save_state": False}
    curves = [predict(problem, optimizer, init=_seed(states, i), **predict_options)
              for i in range(n)]
    first = curves[0]
    stack = lambda get: jnp.stack([get(c) for c in curves])
    observables = {name: jnp.mean(jnp.stack([c.observables[name] for c in curves]), axis=0)
                   for name in first.observables}
    diverged = stack(lambda c: c.diverged)
    metadata = {**first.metadata, "init": f"per seed ({n} measured initial states, mean of curves)"}
    return Curve(step=first.step, t=first.t, risk=jnp.mean(stack(lambda c: c.risk), axis=0),
                 state=None, diverged=jnp.any(diverged), diverged_step=first.diverged_step,
                 diverged_t=jnp.min(stack(lambda c: c.diverged_t)), problem=problem,
                 optimizer=optimizer, metadata=metadata, observables=observables)


def _seed(states, i: int):
    return jax.tree.map(lambda x: jnp.asarray(x[i], dtype=float), states)
