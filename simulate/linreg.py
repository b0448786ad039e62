r"""Least squares at finite d: online mini-batch SGD with momentum on fresh Gaussian samples.

Works in Σ's eigenbasis: $x = \sqrt{\lambda}\odot z$, $z \sim N(0, I_d)$, $y = \theta^*\cdot x +
\sigma\xi$; the step is $\theta \leftarrow \theta - (\eta_k/d)\,\hat g + \beta(\theta -
\theta_{\rm prev})$ with $\hat g = \frac1B\sum_b (\theta\cdot x_b - y_b)\,x_b$ — the same
algorithm as `theory.linreg` (THEORY.md §1). Memory O(B·d) per seed.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from theory import (SGD, Curve, Horizon, LinearRegression, ModeMoments, divergence_threshold,
                    record_steps, scan_with_records)
from theory.linreg import steps_for

from ._simulate import simulate_family


def measure(problem: LinearRegression, theta) -> ModeMoments:
    """The per-mode squared error of finite-d weights θ (eigenbasis), the state of the theory."""
    return ModeMoments((jnp.asarray(theta) - problem.teacher) ** 2)


def _one_seed(problem, optimizer, key, num_steps, rec, dtype, save_state, progress):
    d = problem.d
    batch = optimizer.static_batch()
    lam = problem.spectrum.astype(dtype)
    sqrt_lam = jnp.sqrt(lam)
    teacher = problem.teacher.astype(dtype)
    noise = problem.noise.astype(dtype)
    beta = optimizer.checked_momentum().astype(dtype)

    def step(carry, k):
        theta, prev = carry
        kx, kn = jax.random.split(jax.random.fold_in(key, k))
        x = jax.random.normal(kx, (batch, d), dtype) * sqrt_lam[None, :]
        y = x @ teacher + noise * jax.random.normal(kn, (batch,), dtype)
        grad = x.T @ (x @ theta - y) / batch
        gamma = (optimizer.lr_at(k * batch / d) / d).astype(dtype)
        return theta - gamma * grad + beta * (theta - prev), theta

    def observe(carry):
        err2 = (carry[0] - teacher) ** 2
        return 0.5 * jnp.sum(lam * err2), (ModeMoments(err2) if save_state else None)

    theta0 = problem.init.astype(dtype)
    risk0 = 0.5 * jnp.sum(lam * (theta0 - teacher) ** 2)
    threshold = divergence_threshold(risk0, jnp.maximum(1.0, noise**2))
    report = None if progress is None else (lambda k: progress(int(k), num_steps))
    return scan_with_records(step, observe, (theta0, theta0), num_steps, rec, threshold,
                             progress=report, report_every=max(1, num_steps // 100))


@eqx.filter_jit
def _run(problem, optimizer, keys, num_steps, rec, dtype, save_state, progress):
    run = lambda key: _one_seed(problem, optimizer, key, num_steps, rec, dtype, save_state, progress)
    out = jax.vmap(run)(keys)
    return out.risk, out.observed, out.diverged, out.diverged_step


@simulate_family.register
def _simulate_linreg(problem: LinearRegression, optimizer, horizon: Horizon, *, d, seeds, key,
                     dtype, progress, save_state: bool = True) -> Curve:
    """Option: `save_state` records the per-mode squared error of every seed."""
    if not isinstance(optimizer, SGD):
        raise TypeError(f"least squares supports SGD (got {type(optimizer).__name__})")
    if d is not None and d != problem.d:
        raise ValueError(f"d must equal the length of LinearRegression.spectrum ({problem.d}) "
                         f"or be None (got {d})")
    batch = optimizer.static_batch()
    num_steps = steps_for(problem, optimizer, horizon)
    rec = record_steps(num_steps, horizon.num_points, horizon.spacing)
    keys = jax.random.split(key, seeds)
    risk, state, diverged, dstep = _run(problem, optimizer, keys, num_steps, jnp.asarray(rec),
                                        dtype, save_state, progress)
    return Curve(step=jnp.asarray(rec), t=jnp.asarray(rec) * batch / problem.d, risk=risk,
                 state=state, diverged=diverged, diverged_step=dstep, problem=problem,
                 optimizer=optimizer,
                 metadata={"family": "linreg", "method": "simulation", "d": problem.d,
                           "seeds": seeds, "dtype": jnp.dtype(dtype).name})
