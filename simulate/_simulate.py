"""`simulate`: the one entry point of simulate/ — finite-d runs of the problems of theory/."""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from theory import AbstractOptimizer, AbstractProblem, Curve
from theory._predict import Horizon, make_horizon

DTYPES = {"float32": jnp.float32, "float64": jnp.float64}


@functools.singledispatch
def simulate_family(problem: AbstractProblem, optimizer: AbstractOptimizer, horizon: Horizon, *,
                    d: int | None, seeds: int, key, dtype, progress, **options) -> Curve:
    """The simulator of one family; each family module of simulate/ registers its own."""
    known = ", ".join(c.__name__ for c in simulate_family.registry if c is not object)
    raise TypeError(f"hild has no simulator for {type(problem).__name__}; known problems: {known}")


def simulate(
    problem: AbstractProblem,
    optimizer: AbstractOptimizer,
    steps: int | None = None,
    *,
    t: float | None = None,
    d: int | None = None,
    seeds: int = 32,
    key,
    num_points: int = 200,
    spacing: str = "linear",
    dtype: str = "float32",
    progress: Callable[[int, int], None] | None = None,
    **options,
) -> Curve:
    """Run `optimizer` on `seeds` independent finite-d instances of `problem`.

    Each seed streams fresh samples (memory O(seeds · batch · d), never a stored data set
    unless the family has one), runs under `jit` + `lax.scan`, and all seeds run in one
    `vmap`. The observables are recorded at the same steps/t as `theory.predict` records
    them for the same horizon, so the two curves align point by point.

    **Arguments:**

    - `problem`, `optimizer`: as for `theory.predict`.
    - `steps` or `t`: the horizon, as for `theory.predict`.
    - `d`: input dimension, for families whose problem does not fix it.
    - `seeds`: number of independent runs (>= 2, for a standard error).
    - `key`: a `jax.random.key` (or an int seed); the same key gives the same output.

    **Other arguments:** `num_points`, `spacing` (as for predict); `dtype` "float32" or
    "float64" (needs `jax_enable_x64`); `progress(k, total)` called as steps complete;
    `**options` for the family (e.g. `save_state`).

    **Returns:** a `Curve` whose `risk` has shape `(seeds, T)`; `diverged`/`diverged_step`
    per seed.
    """
    horizon = make_horizon(steps, t, num_points, spacing)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 2:
        raise ValueError(f"seeds must be an integer >= 2 (got {seeds!r})")
    if d is not None and (isinstance(d, bool) or not isinstance(d, int) or d < 1):
        raise ValueError(f"d must be an integer >= 1 (got {d!r})")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} (got {dtype!r})")
    if dtype == "float64" and not jax.config.jax_enable_x64:
        raise ValueError("dtype='float64' needs jax_enable_x64: call "
                         "jax.config.update('jax_enable_x64', True) at start-up")
    if isinstance(key, int):
        key = jax.random.key(key)
    return simulate_family(problem, optimizer, horizon, d=d, seeds=seeds, key=key,
                           dtype=DTYPES[dtype], progress=progress, **options)
