"""Shared machinery of step-based dynamics: record grids and a scan that records and stops.

`scan_with_records` runs a deterministic recursion (theory) or one stochastic run
(simulation) for a static number of steps, records observables at given steps, and
freezes the state when the risk leaves the finite range or crosses a threshold, so that a
diverging run is reported with its step instead of producing NaN. The record steps and the
number of active steps may be traced, so one compiled scan serves a `vmap` over batch sizes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

SPACINGS = ("linear", "log")
DIVERGENCE_FACTOR = 1e4
"""A run is diverged once its risk exceeds this factor times max(initial risk, floor), the
floor being 1 or the family's noise level: no converging run of any family gets there."""


def record_steps(num_steps: int, num_points: int, spacing: str = "linear") -> np.ndarray:
    """Sorted unique steps in [0, num_steps], both ends included, about `num_points` of them."""
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {', '.join(SPACINGS)} (got {spacing!r})")
    if num_points < 2:
        raise ValueError(f"num_points must be an integer >= 2 (got {num_points})")
    if num_steps < 1:
        raise ValueError(f"steps must be an integer >= 1 (got {num_steps})")
    if spacing == "linear":
        grid = np.linspace(0, num_steps, num_points)
    else:
        grid = np.concatenate([[0.0], np.geomspace(1, num_steps, num_points - 1)])
    return np.unique(np.round(grid).astype(np.int64))


def record_times(t_end: float, num_points: int, spacing: str = "linear") -> np.ndarray:
    """Recorded times for families whose theory has no d (ODEs in t = samples/d): 0 and
    `t_end` included; "log" spacing puts `num_points - 1` points on [t_end/1000, t_end]."""
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {', '.join(SPACINGS)} (got {spacing!r})")
    if num_points < 2:
        raise ValueError(f"num_points must be an integer >= 2 (got {num_points})")
    if spacing == "linear":
        return np.linspace(0.0, t_end, num_points)
    return np.concatenate([[0.0], np.geomspace(t_end / 1000, t_end, num_points - 1)])


class Grid(NamedTuple):
    """Where a run is recorded. `steps`: recorded steps (None for a continuous-time theory),
    maybe traced; `times`: their t; `num_steps`: steps to run (static); `active`: the last
    step that counts when `num_steps` is only a bound (a traced batch), else None."""

    steps: Any
    times: Any
    num_steps: int | None
    active: Any = None


def record_grid(horizon, clock, *, stepped: bool = True) -> Grid:
    """The record grid of a horizon (see `theory.Horizon`).

    - No clock (a theory in continuous t without d): `record_times`, or `save_at`.
    - A clock and `stepped` (the theory itself has steps): `steps`, or ceil(t d / samples)
      steps, recorded at `record_steps` (or `save_at` rounded to steps). With a traced
      batch, the horizon in t runs up to the bound of `clock.lower` and each element stops
      after its own steps.
    - A clock but not `stepped` (a simulation of a continuous-time theory): the theory's
      record times rounded to steps, so both curves sit at the same t up to half a step.
    """
    if clock is None:
        if horizon.steps is not None:
            raise ValueError("this theory has no d, so no step count: give t= (samples/d) "
                             "instead of steps=")
        times = horizon.save_at if horizon.save_at is not None else \
            record_times(horizon.t, horizon.num_points, horizon.spacing)
        return Grid(None, np.asarray(times, dtype=np.float64), None)
    if not clock.concrete and horizon.steps is None:
        num_steps = clock.steps_for(horizon.t)  # the bound, from clock.lower
        times = horizon.save_at if horizon.save_at is not None else \
            record_times(horizon.t, horizon.num_points, horizon.spacing)
        steps = jnp.round(jnp.asarray(times) * clock.d / clock.samples).astype(jnp.int32)
        return Grid(steps, clock.time(steps), num_steps, steps[-1])
    num_steps = horizon.steps if horizon.steps is not None else clock.steps_for(horizon.t)
    one_step = float(clock.samples) / clock.d if clock.concrete else 0.0
    if horizon.steps is None and one_step > horizon.t * (1 + 1e-9):
        raise ValueError(f"batch: one step of {clock.samples} samples moves t by "
                         f"{one_step:.4g} (samples/d), past the horizon t = "
                         f"{horizon.t:g}; use a smaller batch or a longer horizon")
    if horizon.save_at is not None:
        steps = np.round(np.asarray(horizon.save_at) * clock.d / float(clock.samples))
        steps = np.minimum(steps, num_steps).astype(np.int64)
    elif stepped or horizon.steps is not None:
        steps = record_steps(num_steps, horizon.num_points, horizon.spacing)
    else:
        times = record_times(horizon.t, horizon.num_points, horizon.spacing)
        steps = np.unique(np.minimum(np.round(times * clock.d / float(clock.samples)),
                                     num_steps).astype(np.int64))
    return Grid(steps, clock.time(steps), num_steps)


def divergence_threshold(risk0: Array, floor: Array | float = 1.0) -> Array:
    """`DIVERGENCE_FACTOR` × max(initial risk, floor)."""
    return DIVERGENCE_FACTOR * jnp.maximum(risk0, floor)


class Records(NamedTuple):
    risk: Array            # (P,), inf after divergence
    observed: Any          # pytree with leading axis P
    diverged: Array        # ()
    diverged_step: Array   # (), -1 if not diverged
    final: Any             # the carry after the last active step


def scan_with_records(
    step: Callable[[Any, Array, Any], Any],
    observe: Callable[[Any], tuple[Array, Any]],
    carry0: Any,
    num_steps: int,
    record_at: Array,
    threshold: Array,
    active_steps: Array | None = None,
    progress: Callable[[Array], None] | None = None,
    report_every: int = 1,
    inputs: Callable[[Array], Any] | None = None,
    chunk: int = 1,
    unroll: int = 1,
    observe_every_step: bool = True,
) -> Records:
    """Run `carry = step(carry, k, x)` for k = 0..num_steps-1 and record `observe(carry)` after
    the steps listed in `record_at` (non-decreasing; repeats get the same record; 0 means the
    initial carry).

    `x` is `inputs(k)` (e.g. the fresh samples of step k), drawn for `chunk` steps at a time
    with one `vmap` (the same values as one call per step, far fewer calls), or None.
    `observe(carry) -> (risk, observables)` runs after every step: after the first step whose
    risk is not finite or exceeds `threshold`, the carry stops changing, `diverged_step` is
    that step and every later recorded risk is `inf`. With `active_steps`, steps beyond it
    leave the carry as is. `progress(k)` is called from the host about every `report_every`
    steps (it sees the unbatched step, so under `vmap` it runs once, not once per seed).
    With `observe_every_step=False` (and `chunk` > 1), `observe` runs only at the recorded
    steps and at the end of each chunk: the divergence check then has the resolution of a
    chunk (`diverged_step` is the first check past the threshold), and a step costs only
    `step` (for simulations, where observing costs as much as a step).
    """
    record_at = jnp.asarray(record_at)
    points = record_at.shape[0]
    risk0, obs0 = observe(carry0)
    dtype = jnp.result_type(risk0)
    risk_buf = jnp.full((points,), jnp.inf, dtype=dtype)
    obs_buf = jax.tree.map(lambda x: jnp.zeros((points,) + jnp.shape(x), jnp.result_type(x)), obs0)
    first = record_at[0] == 0
    risk_buf = risk_buf.at[0].set(jnp.where(first, risk0, risk_buf[0]))
    obs_buf = jax.tree.map(lambda b, x: b.at[0].set(jnp.where(first, x, b[0])), obs_buf, obs0)
    ptr = jnp.searchsorted(record_at, 0, side="right").astype(jnp.int32)
    start_bad = ~jnp.isfinite(risk0) | (risk0 > threshold)
    chunks = -(-num_steps // chunk)
    limit = active_steps
    if chunks * chunk > num_steps:  # the padding of the last chunk does nothing
        limit = num_steps if limit is None else jnp.minimum(limit, num_steps)

    def body(c, kx):
        k, x, block_end = kx
        carry, risk, obs, rbuf, obuf, ptr, diverged, dstep = c
        new = step(carry, k - 1, x)
        idx = jnp.minimum(ptr, points - 1)
        hit = (ptr < points) & (record_at[idx] == k)
        if observe_every_step:
            check = True
            risk_new, obs_new = observe(new)
        else:  # the predicate is the same for every seed: a real branch under vmap
            check = hit | block_end
            risk_new, obs_new = jax.lax.cond(check, lambda: observe(new), lambda: (risk, obs))
        active = True if limit is None else k <= limit
        bad = check & (~jnp.isfinite(risk_new) | (risk_new > threshold))
        newly = active & ~diverged & bad
        diverged = diverged | newly
        dstep = jnp.where(newly, k, dstep)
        advance = active & ~diverged
        carry = jax.tree.map(lambda n, o: jnp.where(advance, n, o), new, carry)
        risk = jnp.where(advance, risk_new, risk)
        obs = jax.tree.map(lambda n, o: jnp.where(advance, n, o), obs_new, obs)
        value = jnp.where(diverged, jnp.inf, risk)
        rbuf = rbuf.at[idx].set(jnp.where(hit, value, rbuf[idx]))
        obuf = jax.tree.map(lambda b, x: b.at[idx].set(jnp.where(hit, x, b[idx])), obuf, obs)
        ptr = jnp.where(hit, jnp.searchsorted(record_at, k, side="right"), ptr).astype(jnp.int32)
        return (carry, risk, obs, rbuf, obuf, ptr, diverged, dstep), None

    def block(c, ks):
        if progress is not None:
            jax.lax.cond((ks[0] - 1) % report_every < chunk,
                         lambda: jax.debug.callback(progress, ks[0] - 1), lambda: None)
        xs = None if inputs is None else jax.vmap(inputs)(ks - 1)
        ends = jnp.arange(ks.shape[0]) == ks.shape[0] - 1
        return jax.lax.scan(body, c, (ks, xs, ends), unroll=unroll)[0], None

    def single(c, k):
        if progress is not None:
            jax.lax.cond((k - 1) % report_every == 0, lambda: jax.debug.callback(progress, k - 1),
                         lambda: None)
        return body(c, (k, None if inputs is None else inputs(k - 1), True))

    init = (carry0, risk0, obs0, risk_buf, obs_buf, ptr, start_bad,
            jnp.where(start_bad, 0, -1).astype(jnp.int32))
    ks = jnp.arange(1, chunks * chunk + 1, dtype=jnp.int32)
    if chunk == 1:
        (final, _, _, rbuf, obuf, _, diverged, dstep), _ = jax.lax.scan(single, init, ks, unroll=unroll)
    else:
        (final, _, _, rbuf, obuf, _, diverged, dstep), _ = jax.lax.scan(
            block, init, ks.reshape(chunks, chunk))
    first_of = jnp.searchsorted(record_at, record_at, side="left")  # repeats: copy the first
    return Records(rbuf[first_of], jax.tree.map(lambda b: b[first_of], obuf), diverged, dstep, final)
