"""`simulate`: the one entry point of simulate/ — finite-d runs of the problems of theory/.

One driver for every family: horizon -> record grid (the theory's, so both curves align) ->
per seed: draw an instance, run the optimizer's update rule on fresh batches under
`lax.scan` -> `vmap` over seeds -> divergence -> `Curve`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp

from hild.theory import (
    AbstractProblem,
    Curve,
    StepClock,
    as_optimizer,
    check_parameter_groups,
    divergence_threshold,
    make_horizon,
    record_grid,
    scan_with_records,
)
from hild.theory.checks import (
    check_int_range,
    check_memory,
    is_concrete,
    runtime_checks,
    surface_check_errors,
)
from hild.theory.protocols import risk_label

from ._family import AbstractSimulation, FreshBatch, simulation_of
from ._sharding import check_shard, run_sharded

DTYPES = {"float32": jnp.float32, "float64": jnp.float64}
PRNGS = ("threefry2x32", "rbg", "unsafe_rbg")
"""JAX's PRNG implementations for an int `key`. Each is reproducible from the key, but they
draw different numbers. threefry2x32 (the default) was the fastest on CPU here (13 vs 8 and
6 M normals/s for rbg and unsafe_rbg, one run on 2 cores); rbg and unsafe_rbg are the faster
ones on GPUs and TPUs (unsafe_rbg: fewer guarantees about splitting, fine for fresh samples)."""


def simulate(
    problem: AbstractProblem,
    optimizer,
    steps: int | None = None,
    *,
    t: float | None = None,
    d: int | None = None,
    seeds: int = 32,
    key,
    num_points: int = 200,
    spacing: str = "linear",
    save_at=None,
    dtype: str = "float32",
    save_state: bool = True,
    prng: str = "threefry2x32",
    progress: Callable[[int, int], None] | None = None,
    shard: str = "seeds",
    seed_block: int | None = None,
) -> Curve:
    """Run `optimizer` on `seeds` independent finite-d instances of `problem`.

    Each seed streams fresh samples (memory O(seeds · batch · d), never a stored data set
    unless the family has one), runs under `jit` + `lax.scan`, and all seeds run in one
    `vmap`. The observables are recorded at the same steps/t as `theory.predict` records
    them for the same horizon, so the two curves align point by point.

    **Arguments:**

    - `problem`: a family's problem; `optimizer`: any hild optimizer, or an optax
      `GradientTransformation` as it is (e.g. `optax.adam(1e-3)`, one sample per step;
      `theory.Optax(transform, batch=B)` for more). No theory of the pair is needed.
    - `steps` or `t`: the horizon, as for `theory.predict`.
    - `d`: input dimension, for families whose problem does not fix it.
    - `seeds`: number of independent runs (>= 2, for a standard error).
    - `key`: a `jax.random.key` (or an int seed); the same key gives the same output, bit
      for bit.

    **Other arguments:** `num_points`, `spacing`, `save_at` (as for predict); `dtype`
    "float32" or "float64" (needs `jax_enable_x64`); `save_state` records every seed's
    measured order parameters (the theory can start from them); `prng` the PRNG for an int
    `key` (`PRNGS`); `progress(k, total)` called as steps complete; `shard` "seeds" spreads
    the seeds over every visible device (each seed's key does not depend on the device
    count), "d" splits the weights and samples along d instead (a d too large for one
    device; docs/scaling-out.md); `seed_block` runs each device's seeds in blocks of that
    many, the same program whatever the device count (bit-identical results across device
    counts by construction; without it, the measured differences are at most an ulp, in
    float64).

    **Returns:** a `Curve` whose `risk` has shape `(seeds, T)`; `diverged`, `diverged_step`,
    `diverged_t` per seed.
    """
    optimizer = as_optimizer(optimizer)
    plan = plan_simulation(problem, optimizer, steps, t=t, d=d, seeds=seeds, key=key,
                           num_points=num_points, spacing=spacing, save_at=save_at, dtype=dtype,
                           save_state=save_state, prng=prng, shard=shard,
                           seed_block=seed_block)
    sim, d, samples, clock, grid = plan.sim, plan.d, plan.samples, plan.clock, plan.grid
    keys = jax.random.split(plan.key, seeds)
    checks = not all(is_concrete(x) for x in
                     jax.tree.leaves(eqx.filter((problem, optimizer), eqx.is_array)))
    if progress is not None:
        _PROGRESS.append(progress)
    try:
        with surface_check_errors():  # scale-out (simulate/_sharding.py): seeds or d over devices
            risk, observables, state, diverged, dstep = run_sharded(
                _run, (sim, problem, optimizer, keys, d, samples, clock, grid.num_steps,
                       grid.steps, DTYPES[dtype], bool(save_state), progress is not None, checks),
                shard=shard, d=d, block=seed_block)
            if progress is not None:  # every report delivered before the run's function goes
                jax.block_until_ready(risk)
    finally:
        if progress is not None:
            _PROGRESS.remove(progress)
    metadata = {"family": problem.family, "method": "simulation", "d": d, "seeds": seeds,
                "dtype": jnp.dtype(DTYPES[dtype]).name, "risk_label": risk_label(problem),
                **problem.metadata(), **sim.metadata(problem, optimizer, d)}
    dt = jnp.where(diverged, clock.time(dstep), jnp.inf)
    return Curve(step=grid.steps, t=grid.times, risk=risk, state=state, diverged=diverged,
                 diverged_step=dstep, diverged_t=dt, problem=problem, optimizer=optimizer,
                 metadata=metadata, observables=observables)


class Plan(NamedTuple):
    sim: AbstractSimulation
    d: int
    samples: int
    clock: StepClock
    grid: Any
    key: Any


def plan_simulation(problem, optimizer, steps=None, *, t=None, d=None, seeds=32, key=0,
                    num_points=200, spacing="linear", save_at=None, dtype="float32",
                    save_state=True, prng="threefry2x32", shard="seeds",
                    seed_block=None) -> Plan:
    """Validate a simulation's arguments (as `simulate` takes them) and check that its
    memory fits, without running anything: a `ValueError`/`TypeError` names what is wrong."""
    horizon = make_horizon(steps, t, num_points, spacing, save_at)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
        raise ValueError(f"seeds must be an integer >= 2 (got {seeds!r})")
    if d is not None:
        check_int_range("d", d, 1, 2**31 - 1)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {dtype!r})")
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype='float64' needs jax_enable_x64: call "
                         "jax.config.update('jax_enable_x64', True) at start-up")
    check_shard(shard, seed_block)
    optimizer = as_optimizer(optimizer)
    sim = simulation_of(problem)
    check_parameter_groups(problem, optimizer)
    check_basis(sim, problem, optimizer)
    d = sim.dimension(problem, d)
    samples = optimizer.samples_per_step(d)
    theory_clock = problem.clock(optimizer)
    clock = theory_clock or StepClock(samples, d)
    grid = record_grid(horizon, clock, stepped=theory_clock is not None)
    check_step(sim, problem, optimizer, d, samples, clock, DTYPES[dtype])
    check_memory("seeds, d, batch",
                 simulation_bytes(sim, problem, optimizer, d, seeds, len(grid.steps),
                                  DTYPES[dtype], save_state),
                 f"a simulation of {seeds} seeds at d = {d}")
    if isinstance(key, int):
        check_int_range("key", key, 0, 2**32 - 1)
        if prng not in PRNGS:
            raise ValueError(f"prng must be one of {', '.join(PRNGS)} (got {prng!r})")
        key = jax.random.key(key, impl=prng)
    return Plan(sim, d, samples, clock, grid, key)


def check_step(sim: AbstractSimulation, problem, optimizer, d: int, samples: int, clock,
               dtype) -> None:
    """One step traced abstractly (nothing is computed): an optimizer that asks a batch for
    what the family's simulation does not give (a gradient, linearised residuals, ...) is a
    TypeError here, on the host, naming both."""
    def one(key):
        params, fixed, data_key = sim.draw(problem, key, d, dtype)
        batch = FreshBatch(sim, problem, fixed, sim.sample_at(problem, fixed, data_key, 0, samples), d)
        return optimizer.update(params, optimizer.init(params, clock), batch, clock)

    try:
        jax.eval_shape(one, jax.random.key(0))
    except TypeError as err:
        reason = str(err).split("\n")[0]
        raise TypeError(f"{type(optimizer).__name__} cannot run on {problem.family}: {reason}") from None


def check_basis(sim: AbstractSimulation, problem, optimizer) -> None:
    """A rule that is not rotation-invariant must run in the problem's input coordinates: a
    simulation in a rotated basis (e.g. a covariance's eigenbasis) would change the problem."""
    basis = sim.rotated_basis(problem)
    if basis is not None and not optimizer.rotation_invariant:
        raise ValueError(f"{type(optimizer).__name__} is not rotation-invariant, and the "
                         f"{problem.family} simulation runs in {basis}, not in the problem's "
                         f"input coordinates: it would simulate another problem. Use a "
                         f"rotation-invariant rule, or state the problem in its input basis")


def initial_states(problem: AbstractProblem, *, d: int | None = None, seeds: int = 32, key,
                   dtype: str = "float32", prng: str = "threefry2x32"):
    """The order parameters every seed of `simulate` (same `key`, `seeds`, `d`, `dtype`)
    starts from, measured on its drawn instance: a pytree with a leading seeds axis (what
    `Curve.state` holds at t = 0), without running any step (`prng` as for `simulate`)."""
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be an integer >= 1 (got {seeds!r})")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {dtype!r})")
    sim = simulation_of(problem)
    d = sim.dimension(problem, d)
    if isinstance(key, int):
        key = jax.random.key(key, impl=prng)

    def one(k):
        params, fixed, _ = sim.draw(problem, k, d, DTYPES[dtype])
        return sim.observe(problem, fixed, params).state

    return jax.vmap(one)(jax.random.split(key, seeds))


SAMPLE_BYTES = 32 * 2**20
"""Bytes of samples drawn at once (all seeds): steps are grouped into chunks of up to
`MAX_CHUNK` whose samples come from one vmapped call, which removes most of the per-step
cost of drawing random numbers (measured 3x on least squares at d = 1000, B = 1)."""
MAX_CHUNK = 128


def chunk_size(sample_bytes: int, seeds: int) -> int:
    """Steps per chunk: as many as fit in `SAMPLE_BYTES` for all seeds, 1 to `MAX_CHUNK`."""
    return int(max(1, min(MAX_CHUNK, SAMPLE_BYTES // max(1, sample_bytes * seeds))))


def _one_seed(sim: AbstractSimulation, problem, optimizer, key, d, samples, clock, num_steps,
              steps, dtype, save_state, progress, chunk):
    params, fixed, data_key = sim.draw(problem, key, d, dtype)

    def draw(k):
        return sim.sample_at(problem, fixed, data_key, k, samples)

    def step(carry, k, sample):
        params, opt_state = carry
        return optimizer.update(params, opt_state, FreshBatch(sim, problem, fixed, sample, d), clock)

    def observe(carry):
        obs = sim.observe(problem, fixed, optimizer.evaluated(*carry))
        observables = {**obs.observables, **optimizer.observables(carry[1])}
        return obs.risk, (observables, obs.state if save_state else None)

    carry = (params, optimizer.init(params, clock))
    threshold = divergence_threshold(observe(carry)[0], problem.divergence_floor())
    report = (lambda k: _report_progress(k, num_steps)) if progress else None
    return scan_with_records(step, observe, carry, num_steps,
                             steps, threshold, progress=report,
                             report_every=max(1, num_steps // 100), inputs=draw, chunk=chunk,
                             observe_every_step=False)


_PROGRESS: list[Callable[[int, int], None]] = []
"""The `progress` functions of the simulations running in this process. The compiled program
calls `_report_progress`, one function for every run: a new callable in the program would
make each run compile it again. (A program with a host callback is not kept in JAX's
persistent compilation cache, so a fresh process compiles a simulation with progress anew.)"""


def _report_progress(k, total: int) -> None:
    if _PROGRESS:
        _PROGRESS[-1](int(k), total)


def sample_bytes(sim: AbstractSimulation, problem, d: int, samples: int, dtype) -> int:
    """Bytes of one step's samples for one seed (from shapes only; nothing is drawn)."""
    def one(key):
        params, fixed, data_key = sim.draw(problem, key, d, dtype)
        return sim.sample_at(problem, fixed, data_key, 0, samples)

    shapes = jax.eval_shape(one, jax.random.key(0))
    return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(shapes))


def simulation_bytes(sim: AbstractSimulation, problem, optimizer, d: int, seeds: int,
                     num_records: int, dtype, save_state: bool) -> float:
    """Estimated peak bytes of a simulation, from shapes only: per seed, the instance and
    a few working copies of the parameters (optimizer state, gradient), the samples of one
    chunk of steps, and the records."""
    samples = optimizer.samples_per_step(d)

    def one(key):
        params, fixed, data_key = sim.draw(problem, key, d, dtype)
        obs = sim.observe(problem, fixed, params)
        return params, fixed, obs.observables, obs.state

    params, fixed, observables, state = jax.eval_shape(one, jax.random.key(0))
    size = lambda tree: float(sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(tree)))
    per_step = sample_bytes(sim, problem, d, samples, dtype)
    chunk = chunk_size(per_step, seeds)
    record = 8.0 * (1 + len(observables)) + (size(state) if save_state else 0.0)
    return seeds * (size(fixed) + 4 * size(params) + chunk * per_step + num_records * record)


@eqx.filter_jit
def _run(sim, problem, optimizer, keys, d, samples, clock, num_steps, steps, dtype, save_state,
         progress, checks):
    with runtime_checks(checks):  # concrete inputs were checked on the host
        return _run_traced(sim, problem, optimizer, keys, d, samples, clock, num_steps, steps,
                           dtype, save_state, progress)


def _run_traced(sim, problem, optimizer, keys, d, samples, clock, num_steps, steps, dtype,
                save_state, progress):
    chunk = min(num_steps, chunk_size(sample_bytes(sim, problem, d, samples, dtype), keys.shape[0]))
    run = lambda key: _one_seed(sim, problem, optimizer, key, d, samples, clock, num_steps,
                                steps, dtype, save_state, progress, chunk)
    out = jax.vmap(run)(keys)
    extras, state = out.observed
    extras = jax.tree.map(lambda x: jnp.where(jnp.isinf(out.risk), jnp.inf, x), extras)
    return out.risk, extras, state, out.diverged, out.diverged_step
