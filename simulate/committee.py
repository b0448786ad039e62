r"""Two-layer teacher–student networks at finite d: the real network trained by online SGD.

Each step draws B fresh inputs $x_b \sim N(0, I_d)$ and labels $y_b = \sum_m v^*_m
g(w^*_m\cdot x_b/\sqrt d) + \sigma\xi_b$, then takes the step of `theory.committee`
(THEORY.md §2): with $\Delta_b = f(x_b) - y_b$ and η = lr(t), $t = kB/d$,
$w_k \leftarrow w_k - \frac{\eta}{B\sqrt d}\sum_b v_k g'(\lambda_{kb})\Delta_b x_b +
\beta(w_k - w_k^{\rm prev})$ and, if trained, $v_k \leftarrow v_k - \frac{\eta_v}{Bd}\sum_b
g(\lambda_{kb})\Delta_b + \beta(v_k - v_k^{\rm prev})$. Memory O(seeds · (B + K + M) · d).

**The recorded risk is exact.** For $x \sim N(0, I_d)$ the local fields $(\lambda, \nu) =
(Wx, W^*x)/\sqrt d$ are jointly Gaussian with covariance $[[Q, R], [R^\top, T]]$ measured
on the weights, so the population risk $\tfrac12 E_x[(f - f^*)^2]$ of the current network is
the deterministic function `CommitteeMachine.risk` of $(Q, R, T, v)$ — no test set, no
sampling error: only the training trajectory is random.

**Initialisation.** The teacher has overlaps exactly T: Gaussian rows orthonormalised
(QR), scaled by $\sqrt d$, multiplied by a square root of T. With `problem.init` = None the
student draws $w_k \sim N(0, \sigma_0^2 I_d)$ ($\sigma_0$ = `init_scale`), each seed its own
(the theory can start from every seed's measured overlaps, see `Curve.state`). With
`problem.init` given, student and teacher are drawn jointly with exactly those overlaps,
so every seed starts at the theory's initial state.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from theory import SGD, Curve, Horizon, record_steps, record_times, scan_with_records
from theory.committee import (CommitteeMachine, Overlaps, divergence_limits, observed_risk,
                              sqrt_factor)

from ._simulate import simulate_family


def measure_overlaps(problem: CommitteeMachine, W, W_star, v) -> Overlaps:
    """The order parameters of finite-d weights: Q = W Wᵀ/d, R = W W*ᵀ/d, and v.

    `W` (K, d) student first layer, `W_star` (M, d) teacher, `v` (K,) student second layer
    (leading batch axes allowed)."""
    W, W_star = jnp.asarray(W), jnp.asarray(W_star)
    if W.shape[-2:-1] != (problem.K,) or W_star.shape[-2:-1] != (problem.M,) or \
            W.shape[-1] != W_star.shape[-1]:
        raise ValueError(f"W must have shape (..., {problem.K}, d) and W_star (..., {problem.M}, d) "
                         f"(got {W.shape} and {W_star.shape})")
    d = W.shape[-1]
    mT = lambda a: jnp.swapaxes(a, -1, -2)
    return Overlaps(W @ mT(W) / d, W @ mT(W_star) / d, jnp.asarray(v))


def _orthonormal_rows(key, n: int, d: int, dtype):
    """n orthonormal vectors of R^d (rows), uniformly random."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (d, n), dtype))
    return (q * jnp.sign(jnp.diag(r))[None, :]).T


def draw_network(problem: CommitteeMachine, key, d: int, dtype=jnp.float32):
    """(W, W_star, v) of one seed: a teacher with overlaps exactly T and a student drawn as
    the module docstring says."""
    K, M = problem.K, problem.M
    k_rows, k_student = jax.random.split(key)
    if problem.init is None:
        rows = _orthonormal_rows(k_rows, M, d, jnp.float64 if dtype == jnp.float64 else jnp.float32)
        W_star = math.sqrt(d) * sqrt_factor(problem.T.astype(rows.dtype)) @ rows
        W = problem.init_scale.astype(dtype) * jax.random.normal(k_student, (K, d), dtype)
        return W, W_star.astype(dtype), problem.second_layer.astype(dtype)
    rows = _orthonormal_rows(k_rows, K + M, d, jnp.float64 if dtype == jnp.float64 else jnp.float32)
    cov = problem.covariance(problem.init).astype(rows.dtype)
    both = math.sqrt(d) * sqrt_factor(cov) @ rows
    return both[:K].astype(dtype), both[K:].astype(dtype), problem.init.v.astype(dtype)


def _one_seed(problem, optimizer, key, d, num_steps, rec, dtype, save_state, progress):
    batch = optimizer.static_batch()
    act = problem.act
    k_net, k_data = jax.random.split(key)
    W0, W_star, v0 = draw_network(problem, k_net, d, dtype)
    v_star = problem.teacher_second_layer.astype(dtype)
    noise = problem.noise.astype(dtype)
    beta = optimizer.checked_momentum().astype(dtype)
    T = W_star @ W_star.T / d
    root_d = math.sqrt(d)
    train = problem.train_second_layer

    def step(carry, k):
        W, v, W_prev, v_prev = carry
        kx, kn = jax.random.split(jax.random.fold_in(k_data, k))
        x = jax.random.normal(kx, (batch, d), dtype)
        lam = x @ W.T / root_d
        y = act(x @ W_star.T / root_d) @ v_star + noise * jax.random.normal(kn, (batch,), dtype)
        delta = act(lam) @ v - y
        eta = optimizer.lr_at(k * batch / d).astype(dtype)
        coef = v[None, :] * act.derivative(lam) * delta[:, None]
        W_next = W - (eta / (batch * root_d)) * (coef.T @ x) + beta * (W - W_prev)
        if train:
            eta_v = eta if problem.lr_second is None else problem.lr_second.astype(dtype)
            v_next = v - (eta_v / (batch * d)) * (act(lam).T @ delta) + beta * (v - v_prev)
        else:
            v_next = v
        return W_next, v_next, W, v

    def observe(carry):
        W, v = carry[0], carry[1]
        state = Overlaps(W @ W.T / d, W @ W_star.T / d, v)
        return observed_risk(problem, state, q_limit, T), (state if save_state else None)

    init_state = Overlaps(W0 @ W0.T / d, W0 @ W_star.T / d, v0)
    risk_limit, q_limit = divergence_limits(problem, init_state)
    report = None if progress is None else (lambda k: progress(int(k), num_steps))
    return scan_with_records(step, observe, (W0, v0, W0, v0), num_steps, rec, risk_limit,
                             progress=report, report_every=max(1, num_steps // 100))


@eqx.filter_jit
def _run(problem, optimizer, keys, d, num_steps, rec, dtype, save_state, progress):
    run = lambda key: _one_seed(problem, optimizer, key, d, num_steps, rec, dtype, save_state, progress)
    out = jax.vmap(run)(keys)
    return out.risk, out.observed, out.diverged, out.diverged_step


def _record_grid(horizon: Horizon, d: int, batch: int) -> tuple[int, np.ndarray]:
    """Steps to run and steps to record: for `t=`, the theory's `record_times` rounded to
    steps (round(t d / B)), so both curves sit at the same t up to B/(2d)."""
    if horizon.steps is not None:
        return horizon.steps, record_steps(horizon.steps, horizon.num_points, horizon.spacing)
    num_steps = max(1, math.ceil(horizon.t * d / batch))
    times = record_times(horizon.t, horizon.num_points, horizon.spacing)
    return num_steps, np.unique(np.minimum(np.round(times * d / batch), num_steps).astype(np.int64))


@simulate_family.register
def _simulate_committee(problem: CommitteeMachine, optimizer, horizon: Horizon, *, d, seeds, key,
                        dtype, progress, save_state: bool = True) -> Curve:
    """Option: `save_state` records every seed's `Overlaps` (the theory can then start from
    each seed's measured initial overlaps: `curve.state` at index 0 along time)."""
    if not isinstance(optimizer, SGD):
        raise TypeError(f"the committee machine supports SGD (got {type(optimizer).__name__})")
    if d is None:
        raise ValueError("d is required for the committee simulation (the problem has no d)")
    if d < problem.K + problem.M:
        raise ValueError(f"d must be >= K + M = {problem.K + problem.M} (got {d})")
    batch = optimizer.static_batch()
    num_steps, rec = _record_grid(horizon, d, batch)
    keys = jax.random.split(key, seeds)
    risk, state, diverged, dstep = _run(problem, optimizer, keys, d, num_steps, jnp.asarray(rec),
                                        dtype, save_state, progress)
    init = "problem.init" if problem.init is not None else \
        f"random (init_scale={float(problem.init_scale):g}, per seed)"
    return Curve(step=jnp.asarray(rec), t=jnp.asarray(rec) * batch / d, risk=risk, state=state,
                 diverged=diverged, diverged_step=dstep, problem=problem, optimizer=optimizer,
                 metadata={"family": "committee", "method": "simulation", "d": d, "seeds": seeds,
                           "dtype": jnp.dtype(dtype).name, "init": init})


__all__ = ["measure_overlaps", "draw_network"]
