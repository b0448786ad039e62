"""`predict`: the one entry point of theory/ (as `diffrax.diffeqsolve` is of diffrax)."""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple

import jax

from ._curve import Curve
from ._problem import AbstractProblem
from ._record import SPACINGS
from .optim import AbstractOptimizer


class Horizon(NamedTuple):
    """How long to run: `steps` optimizer iterations, or `t` samples/d (exactly one is set)."""

    steps: int | None
    t: float | None
    num_points: int
    spacing: str


def make_horizon(steps, t, num_points, spacing) -> Horizon:
    if (steps is None) == (t is None):
        raise ValueError("give exactly one of steps (optimizer iterations) or t (samples/d)")
    if steps is not None and (isinstance(steps, bool) or int(steps) != steps or steps < 1):
        raise ValueError(f"steps must be an integer >= 1 (got {steps!r})")
    if t is not None and not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise ValueError(f"t must be a finite number > 0 (got {t!r})")
    if isinstance(num_points, bool) or int(num_points) != num_points or num_points < 2:
        raise ValueError(f"num_points must be an integer >= 2 (got {num_points!r})")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {', '.join(SPACINGS)} (got {spacing!r})")
    return Horizon(None if steps is None else int(steps), None if t is None else float(t),
                   int(num_points), spacing)


@functools.singledispatch
def predict_family(problem: AbstractProblem, optimizer: AbstractOptimizer, horizon: Horizon,
                   **options) -> Curve:
    """The theory of one family; each family module registers its own implementation."""
    raise TypeError(f"hild has no theory for {type(problem).__name__}; "
                    f"known problems: {', '.join(c.__name__ for c in predict_family.registry if c is not object)}")


def predict(
    problem: AbstractProblem,
    optimizer: AbstractOptimizer,
    steps: int | None = None,
    *,
    t: float | None = None,
    num_points: int = 200,
    spacing: str = "linear",
    **options,
) -> Curve:
    """Predict the learning curve of `optimizer` on `problem` without training.

    **Arguments:**

    - `problem`: a family's problem (e.g. `theory.LinearRegression`).
    - `optimizer`: e.g. `theory.SGD(lr, batch, momentum)`.
    - `steps`: optimizer iterations (families with a finite d), or
    - `t`: the horizon in samples/d, the time axis shared by all families.

    **Other arguments:**

    - `num_points`: about how many recorded points (the ends included).
    - `spacing`: "linear" or "log" spacing of the recorded points.
    - `**options`: family options, e.g. `init=` (the initial order parameters), `method=`
      ("recursion" or "ode" for least squares), `rtol=`/`atol=` for ODE families.

    **Returns:** a `Curve` with `risk` of shape `(T,)`; `diverged` marks a run whose risk
    left the finite range, with the step in `diverged_step` (later risks are `inf`).

    `jit`-, `vmap`- and `grad`-friendly in every float field of the problem and optimizer.
    Runs in float64 when `jax_enable_x64` is on (recommended; the CLI turns it on).

    **Raises:** `ValueError` for a bad horizon or option, `TypeError` for a problem or
    optimizer the family does not support.
    """
    horizon = make_horizon(steps, t, num_points, spacing)
    if not jax.config.jax_enable_x64:
        warnings.warn("theory runs in float32 because jax_enable_x64 is off; call "
                      "jax.config.update('jax_enable_x64', True) at start-up for float64",
                      stacklevel=2)
    return predict_family(problem, optimizer, horizon, **options)
