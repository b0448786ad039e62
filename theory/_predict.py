"""`predict`: the one entry point of theory/ (as `diffrax.diffeqsolve` is of diffrax).

One driver for every family: horizon -> record grid -> `lax.scan` (a `Recursion`) or
`diffrax.diffeqsolve` (an `ODE`) -> divergence -> `Curve`. The family gives only its state,
its one-step map or vector field and its observables (`theory._family`).
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from . import _exported as exported
from .checks import check_memory, is_concrete, runtime_checks, surface_check_errors
from ._curve import Curve
from ._family import MAX_STEPS, ODE, AbstractProblem, Closed, Recursion, check_parameter_groups, method_of
from ._record import SPACINGS, divergence_threshold, record_grid, scan_with_records
from ._theories import theory_for
from .optim import as_optimizer
from .protocols import Analysed, risk_label


class Horizon(NamedTuple):
    """How long to run and where to record: `steps` optimizer iterations or `t` samples/d
    (exactly one is set), about `num_points` points spaced by `spacing`, or the explicit
    times `save_at` (as `diffrax.SaveAt(ts=...)`; rounded to steps where the run has steps)."""

    steps: int | None
    t: float | None
    num_points: int
    spacing: str
    save_at: np.ndarray | None = None


def make_horizon(steps=None, t=None, num_points=200, spacing="linear", save_at=None) -> Horizon:
    """Validate a horizon; with `save_at` alone, t is its last time."""
    if save_at is not None:
        save_at = np.asarray(save_at, dtype=np.float64)
        if save_at.ndim != 1 or save_at.size < 1 or not np.all(np.isfinite(save_at)) \
                or np.any(save_at < 0) or np.any(np.diff(save_at) < 0):
            raise ValueError("save_at must be a non-empty 1-D array of finite times >= 0, "
                             "in non-decreasing order")
        if steps is None and t is None:
            if save_at[-1] <= 0:
                raise ValueError("save_at must reach a time > 0")
            t = float(save_at[-1])
        elif t is not None and save_at[-1] > t * (1 + 1e-12):
            raise ValueError(f"save_at must lie within the horizon t = {t:g} "
                             f"(got up to {save_at[-1]:g})")
    if (steps is None) == (t is None):
        raise ValueError("give exactly one of steps (optimizer iterations) or t (samples/d)")
    if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 1):
        raise ValueError(f"steps must be an integer >= 1 (got {steps!r})")
    if steps is not None and steps > MAX_STEPS:
        raise ValueError(f"steps must be at most {MAX_STEPS} (got {steps!r})")
    if t is not None and not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise ValueError(f"t must be a finite number > 0 (got {t!r})")
    if isinstance(num_points, bool) or int(num_points) != num_points or num_points < 2:
        raise ValueError(f"num_points must be an integer >= 2 (got {num_points!r})")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {', '.join(SPACINGS)} (got {spacing!r})")
    check_memory("num_points", 64.0 * num_points, f"a record grid of {num_points} points")
    return Horizon(None if steps is None else int(steps), None if t is None else float(t),
                   int(num_points), spacing, save_at)


def predict(
    problem: AbstractProblem,
    optimizer,
    steps: int | None = None,
    *,
    t: float | None = None,
    num_points: int = 200,
    spacing: str = "linear",
    save_at=None,
    method: str | None = None,
    init: Any = None,
    save_state: bool = True,
    solver: diffrax.AbstractSolver | None = None,
    stepsize_controller: diffrax.AbstractStepSizeController | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    max_steps: int | None = None,
    **options,
) -> Curve:
    """Predict the learning curve of `optimizer` on `problem` without training.

    **Arguments:**

    - `problem`: a family's problem (e.g. `theory.LinearRegression`).
    - `optimizer`: e.g. `theory.SGD(lr, batch, momentum)`.
    - `steps`: optimizer iterations (families whose theory has steps), or
    - `t`: the horizon in samples/d, the time axis shared by all families.

    **Other arguments:**

    - `num_points`, `spacing`: about how many recorded points (the ends included), spaced
      "linear" or "log"; or `save_at`: explicit times t to record (rounded to steps where
      the theory has steps).
    - `method`: the family's method ("exact" for the exact finite-d theory, "limit" for the
      high-d limit, ...; default the family's first that covers `optimizer`); `init`: the initial order parameters (e.g. measured on a simulation);
      `save_state`: record the order parameters in `Curve.state`.
    - ODE methods: `solver` and `stepsize_controller` as diffrax objects (default
      `diffrax.Tsit5()` with `diffrax.PIDController(rtol, atol)` at the family's tolerances),
      `rtol`, `atol`, `max_steps`.
    - `**options`: the family's own options (`type(problem).theory_options`).

    **Returns:** a `Curve` with `risk` of shape `(T,)`; `diverged` marks a run whose risk
    left the finite range, with its step (`diverged_step`, -1 without steps) and time
    (`diverged_t`, inf if it did not); later risks and observables are `inf`.

    `jit`-, `vmap`- and `grad`-friendly in every float field of the problem and optimizer.
    Runs in float64 when `jax_enable_x64` is on (recommended; the CLI turns it on).

    **Raises:** `ValueError` for a bad horizon or option, `TypeError` for an optimizer the
    family has no theory of (a pair without a registered theory); `RuntimeError` if an ODE solve fails
    (e.g. `max_steps` reached).
    """
    horizon = make_horizon(steps, t, num_points, spacing, save_at)
    if not isinstance(problem, AbstractProblem):
        raise TypeError(f"problem must be an AbstractProblem (got {type(problem).__name__})")
    optimizer = as_optimizer(optimizer)
    cls = type(problem)
    if method is not None:
        method = method_of(cls, method)
    theory, method = theory_for(problem, optimizer, method)
    check_parameter_groups(problem, optimizer)
    unknown = sorted(set(options) - set(cls.theory_options))
    if unknown:
        raise TypeError(f"predict got an unknown option {unknown[0]!r} for {cls.family} "
                        f"(its options: {', '.join(cls.theory_options) or 'none'})")
    options = {**cls.theory_options, **options}
    if not jax.config.jax_enable_x64:
        warnings.warn("theory runs in float32 because jax_enable_x64 is off; call "
                      "jax.config.update('jax_enable_x64', True) at start-up for float64",
                      stacklevel=2)
    ode = ode_settings(cls, method, solver, stepsize_controller, rtol, atol, max_steps)
    state0 = problem.initial_state(init)
    clock = problem.clock(optimizer)
    grid = record_grid(horizon, clock)
    check_memory("num_points, d", predict_bytes(state0, len(grid.times), save_state),
                 f"a prediction recording {len(grid.times)} points")
    checks = not _all_concrete(problem, optimizer, state0, grid.steps, grid.active)
    with surface_check_errors():
        args = (theory.dynamics, problem, optimizer, state0, clock, grid.steps, grid.times,
                grid.active, grid.num_steps, method, tuple(sorted(options.items())),
                bool(save_state), ode, checks)
        step, times, risk, observables, state, diverged, dstep, dt, result, label = \
            exported.call(_solve_checked, args, checks, fallback=_solve)
    if result is not None and not checks:
        _raise_if_failed(result)
    metadata = {"family": cls.family, "method": method, "method_label": label,
                "d": problem.dimension, "risk_label": risk_label(problem), **problem.metadata()}
    if init is not None:
        metadata["init"] = "given"
    if options:
        metadata["options"] = options
    if isinstance(problem, Analysed) and _all_concrete(problem, optimizer, state0):
        metadata.update(problem.analyse(optimizer, state0, float(grid.times[-1]), ode, **options))
    return Curve(step=step, t=times, risk=risk, state=state,
                 diverged=diverged, diverged_step=dstep, diverged_t=dt, problem=problem,
                 optimizer=optimizer, metadata=metadata, observables=observables)


def predict_bytes(state0, num_records: int, save_state: bool = True) -> float:
    """Estimated peak bytes of a prediction: the recorded states (with `save_state`) and a
    few working copies of the state (the scan's or the ODE solver's stages)."""
    state = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state0)
                if hasattr(x, "dtype"))
    return float(state) * (16 + (num_records if save_state else 0)) + 64.0 * num_records


def ode_settings(cls, method, solver, controller, rtol, atol, max_steps) -> dict:
    """The diffrax options (solver, step-size controller, rtol, atol, max_steps) of an ODE
    method, the family's `ode_tolerances` where not given, checked; {} for a method without
    an ODE, which refuses them (ValueError)."""
    if cls.methods[method] != "ode":
        given = [n for n, v in (("solver", solver), ("stepsize_controller", controller),
                                ("rtol", rtol), ("atol", atol), ("max_steps", max_steps)) if v is not None]
        if given:
            raise ValueError(f"{given[0]} applies to ODE methods only ({cls.family} method "
                             f"{method!r} is a recursion)")
        return {}
    default_rtol, default_atol, default_max = cls.ode_tolerances
    if controller is not None and (rtol is not None or atol is not None):
        raise ValueError("give a stepsize_controller or rtol/atol, not both")
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    max_steps = default_max if max_steps is None else max_steps
    for name, value in (("rtol", rtol), ("atol", atol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise ValueError(f"{name} must be a number in (0, 1) (got {value!r})")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be an integer >= 1 (got {max_steps!r})")
    return {"solver": _default_solver() if solver is None else solver,
            "stepsize_controller": _default_controller(rtol, atol) if controller is None else controller,
            "max_steps": max_steps, "rtol": rtol, "atol": atol}


@functools.cache
def _default_solver() -> diffrax.AbstractSolver:
    return diffrax.Tsit5()


@functools.cache
def _default_controller(rtol: float, atol: float) -> diffrax.AbstractStepSizeController:
    return diffrax.PIDController(rtol=rtol, atol=atol)


def _all_concrete(*trees) -> bool:
    return all(is_concrete(x) for x in jax.tree.leaves(eqx.filter(trees, eqx.is_array)))


def _observe_fn(dyn, save_state: bool):
    def observe(y):
        obs = dyn.observe(y)
        return obs.risk, (obs.observables, obs.state if save_state else None)

    return observe


def _raise_if_failed(result) -> None:
    """diffrax's own error for a failed solve (e.g. max_steps reached), raised on the host."""
    codes = np.unique(np.asarray(result._value))
    ok = {int(diffrax.RESULTS.successful._value), int(diffrax.RESULTS.event_occurred._value)}
    bad = [int(c) for c in codes if int(c) not in ok]
    if bad:
        raise RuntimeError(f"the ODE solve failed: {diffrax.RESULTS[bad[0]]}")


@eqx.filter_jit
def _solve(dynamics, problem, optimizer, state0, clock, steps, times, active, num_steps, method,
           options, save_state, ode, checks):
    """One compiled program per theory/method/shape; `checks` (static): keep the run-time
    range checks and diffrax's throw (traced inputs) or leave them to the host."""
    return _solve_checked(dynamics, problem, optimizer, state0, clock, steps, times, active,
                          num_steps, method, options, save_state, ode, checks)


def _solve_checked(*args):
    """`_solve`'s body, uncompiled (`exported.call` traces it itself); `args[-1]`: checks."""
    with runtime_checks(args[-1]):
        return _solve_traced(*args)


def _solve_traced(dynamics, problem, optimizer, state0, clock, steps, times, active, num_steps,
                  method, options, save_state, ode, checks):
    dyn = dynamics(problem, optimizer, state0, method, **dict(options))
    observe = _observe_fn(dyn, save_state)
    times = jnp.asarray(times)
    step = jnp.asarray(steps) if steps is not None else -jnp.ones(times.shape[0], dtype=int)
    if isinstance(dyn, Closed):
        risk0 = dyn.at(jnp.zeros(1, dtype=int)).risk[0]
    else:
        risk0, _ = observe(dyn.init)
    threshold = divergence_threshold(risk0, dyn.floor)
    if isinstance(dyn, Recursion):
        out = scan_with_records(lambda c, k, x: dyn.step(c, k), observe, dyn.init, num_steps,
                                steps, threshold, active_steps=active)
        extras, state = out.observed
        dt = jnp.where(out.diverged, clock.time(out.diverged_step), jnp.inf)
        extras = jax.tree.map(lambda x: jnp.where(jnp.isinf(out.risk), jnp.inf, x), extras)
        return (step, times, out.risk, extras, state, out.diverged, out.diverged_step, dt, None,
                dyn.label)
    if isinstance(dyn, Closed):
        return (step, times) + _closed(dyn, save_state, threshold, steps, clock) + (dyn.label,)
    if not isinstance(dyn, ODE):
        raise TypeError(f"the theory {dynamics.__qualname__} must return a Recursion, an ODE or a "
                        f"Closed (got {type(dyn).__name__})")
    return (step, times) + _integrate(dyn, observe, threshold, steps, times, ode, checks) + \
        (dyn.label,)


def _closed(dyn: Closed, save_state: bool, threshold, steps, clock):
    """Evaluate a closed form at the record steps; the first record past the threshold (or
    not finite) marks the divergence, at the resolution of the records."""
    obs = dyn.at(jnp.asarray(steps))
    risk, extras, state, diverged, dstep = _cut_at_divergence(
        obs.risk, obs.observables, obs.state if save_state else None, threshold, steps)
    return risk, extras, state, diverged, dstep, jnp.where(diverged, clock.time(dstep), jnp.inf), None


def _cut_at_divergence(risk, extras, state, threshold, steps):
    """Records from the first one past the threshold (or not finite) on become inf (risk and
    observables); non-finite state entries become 0; the divergence step is that record's
    (-1 without steps or divergence)."""
    bad = ~(risk <= threshold)
    diverged = jnp.any(bad)
    after = jnp.cumsum(bad) > 0
    risk = jnp.where(after, jnp.inf, risk)
    extras = jax.tree.map(lambda x: jnp.where(after, jnp.inf, x), extras)
    if state is not None:
        state = jax.tree.map(lambda x: jnp.where(jnp.isfinite(x), x, 0.0), state)
    dstep = (jnp.where(diverged, jnp.asarray(steps)[jnp.argmax(bad)], -1) if steps is not None
             else jnp.asarray(-1))
    return risk, extras, state, diverged, dstep


def _integrate(dyn: ODE, observe, threshold, steps, times, ode, throw: bool):
    """Integrate from t = 0 to the last record time; a diffrax Event stops the solve where
    the risk leaves [0, threshold] (or turns non-finite), whose time is `diverged_t`."""

    def blew_up(t, y, args, **kwargs):
        return ~(observe(y)[0] <= threshold)

    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(dyn.vector_field), ode["solver"], t0=0.0, t1=times[-1], dt0=None,
        y0=dyn.init, saveat=diffrax.SaveAt(subs=[diffrax.SubSaveAt(ts=times), diffrax.SubSaveAt(t1=True)]),
        stepsize_controller=ode["stepsize_controller"], event=diffrax.Event(blew_up),
        max_steps=ode["max_steps"], throw=throw)
    risk, (extras, state) = jax.vmap(observe)(sol.ys[0])
    risk, extras, state, diverged, dstep = _cut_at_divergence(risk, extras, state, threshold, steps)
    return risk, extras, state, diverged, dstep, jnp.where(diverged, sol.ts[1][-1], jnp.inf), sol.result
