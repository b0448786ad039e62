r"""Rank-one matrix sensing at finite d: the mini-batched prox-linear method itself.

Each iteration draws a fresh batch of $m = \delta d$ Gaussian sensing vectors (the only data
in memory: O(m d) per seed), forms $r_i = y_i - f_i(x_t)$ and $g_i = \nabla f_i(x_t)$, and takes
the exact prox-linear step (THEORY.md §5, arXiv 2402.01599)
$x_{t+1} = x_t + G^\top(GG^\top + (m/\eta) I_m)^{-1} r$,
the minimiser of $\frac{1}{2m}\|r - G(x - x_t)\|^2 + \frac{1}{2\eta}\|x - x_t\|^2$, with the
m×m system solved matrix-free by conjugate gradients (lineax; Jacobi preconditioner, which
absorbs the heavy-tailed row norms $\|g_i\|^2 = s_i^2\|a_i\|^2 + u_i^2\|b_i\|^2$), or densely
(`solver="dense"`, for checks at small d). The signals are $\mu^* = \nu^* = x^* = e_1$ (the
Gaussian design is rotation invariant), and every seed starts at the problem's state by
construction: $\mu_0 = \alpha e_1 + \beta e_2$, $\nu_0 = \gamma e_1 + \zeta e_2$.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from theory import Curve, Horizon, divergence_threshold, record_steps, scan_with_records
from theory.optim import ProxLinear
from theory.sensing import RISK_LABEL, RankOneSensing, error_of, state_from_vector, state_vector, steps_for

from ._simulate import simulate_family

SOLVERS = ("cg", "dense")


def batch_size(optimizer: ProxLinear, d: int) -> int:
    """m = δ·d measurements per iteration; ValueError unless it is a whole number >= 1."""
    delta = float(optimizer.batch_fraction)
    if delta * d < 1 - 1e-9:
        raise ValueError(f"d is too small for ProxLinear.batch_fraction = {delta:g}: the batch "
                         f"m = batch_fraction * d must be >= 1, so d >= {1 / delta:g} (got d = {d})")
    m = round(delta * d)
    if abs(m - delta * d) > 1e-9 * delta * d:
        raise ValueError(f"ProxLinear.batch_fraction * d must be a whole number of measurements "
                         f"(got {delta:g} * {d} = {delta * d:g}); change d or batch_fraction")
    return m


def measure(model: str, x: jax.Array, d: int) -> jax.Array:
    """The state vector of a finite-d iterate with signals e_1: (α, β, γ, ζ) for x = (μ, ν)
    stacked, or (α, β) for the symmetric model."""
    blocks = (x[:d], x[d:]) if model == "bilinear" else (x,)
    out = []
    for v in blocks:
        out += [v[0], jnp.sqrt(jnp.sum(v[1:] ** 2))]
    return jnp.stack(out)


def _initial_iterate(model: str, theta: jax.Array, d: int, dtype) -> jax.Array:
    blocks = 2 if model == "bilinear" else 1
    x = jnp.zeros((blocks, d), dtype)
    x = x.at[:, 0].set(theta[0::2].astype(dtype)).at[:, 1].set(theta[1::2].astype(dtype))
    return x.reshape(-1)


def _cg_tolerance(dtype) -> float:
    return 1e-10 if dtype == jnp.float64 else 1e-5


def _solve(matvec, diag, r, solver: str, dtype):
    """λ with (G Gᵀ + (m/η) I) λ = r."""
    m = r.shape[0]
    if solver == "dense":
        K = jax.vmap(matvec, out_axes=1)(jnp.eye(m, dtype=dtype))
        return jnp.linalg.solve(K, r)
    struct = jax.ShapeDtypeStruct((m,), dtype)
    op = lx.FunctionLinearOperator(matvec, struct, tags=lx.positive_semidefinite_tag)
    pre = lx.TaggedLinearOperator(lx.DiagonalLinearOperator(1.0 / diag),
                                  lx.positive_semidefinite_tag)
    tol = _cg_tolerance(dtype)
    sol = lx.linear_solve(op, r, lx.CG(rtol=tol, atol=tol, max_steps=10 * m),
                          options={"preconditioner": pre}, throw=False)
    return sol.value


def _step_bilinear(x, key, d, m, noise, inv_step_m, solver, dtype):
    ka, kb, ke = jax.random.split(key, 3)
    a = jax.random.normal(ka, (m, d), dtype)
    b = jax.random.normal(kb, (m, d), dtype)
    mu, nu = x[:d], x[d:]
    u, s = a @ mu, b @ nu
    y = a[:, 0] * b[:, 0] + noise * jax.random.normal(ke, (m,), dtype)
    r = y - u * s

    def matvec(lam):  # G Gᵀ λ + (m/η) λ, G = [diag(s) a, diag(u) b]
        return s * (a @ (a.T @ (s * lam))) + u * (b @ (b.T @ (u * lam))) + inv_step_m * lam

    diag = s**2 * jnp.sum(a**2, axis=1) + u**2 * jnp.sum(b**2, axis=1) + inv_step_m
    lam = _solve(matvec, diag, r, solver, dtype)
    return jnp.concatenate([mu + a.T @ (s * lam), nu + b.T @ (u * lam)])


def _step_symmetric(x, key, d, m, noise, inv_step_m, solver, dtype):
    ka, ke = jax.random.split(key)
    a = jax.random.normal(ka, (m, d), dtype)
    u = a @ x
    y = a[:, 0] ** 2 + noise * jax.random.normal(ke, (m,), dtype)
    r = y - u**2
    psi = 2.0 * u  # g_i = 2 u_i a_i

    def matvec(lam):
        return psi * (a @ (a.T @ (psi * lam))) + inv_step_m * lam

    diag = psi**2 * jnp.sum(a**2, axis=1) + inv_step_m
    lam = _solve(matvec, diag, r, solver, dtype)
    return x + a.T @ (psi * lam)


def _one_seed(problem, optimizer, key, d, m, num_steps, rec, dtype, solver, save_state, progress):
    model = problem.model
    theta0 = state_vector(problem.init)
    noise = problem.noise.astype(dtype)
    inv_step_m = (m / optimizer.checked_step()).astype(dtype)
    one = _step_bilinear if model == "bilinear" else _step_symmetric

    def step(x, k):
        return one(x, jax.random.fold_in(key, k), d, m, noise, inv_step_m, solver, dtype)

    def observe(x):
        theta = measure(model, x, d)
        return error_of(model, theta), (state_from_vector(model, theta) if save_state else None)

    x0 = _initial_iterate(model, theta0, d, dtype)
    threshold = divergence_threshold(error_of(model, theta0).astype(dtype),
                                     jnp.maximum(1.0, noise**2))
    report = None if progress is None else (lambda k: progress(int(k), num_steps))
    return scan_with_records(step, observe, x0, num_steps, rec, threshold, progress=report)


@eqx.filter_jit
def _run(problem, optimizer, keys, d, m, num_steps, rec, dtype, solver, save_state, progress):
    run = lambda key: _one_seed(problem, optimizer, key, d, m, num_steps, rec, dtype, solver,
                                save_state, progress)
    out = jax.vmap(run)(keys)
    return out.risk, out.observed, out.diverged, out.diverged_step


@simulate_family.register
def _simulate_sensing(problem: RankOneSensing, optimizer, horizon: Horizon, *, d, seeds, key,
                      dtype, progress, solver: str = "cg", save_state: bool = True) -> Curve:
    """Options: `solver` "cg" (matrix-free, default) or "dense" (forms the m×m matrix);
    `save_state` records the measured state (α, β, γ, ζ) of every seed."""
    if not isinstance(optimizer, ProxLinear):
        raise TypeError(f"rank-one sensing supports ProxLinear (got {type(optimizer).__name__})")
    if d is None:
        raise ValueError("d is required for rank-one sensing (the problem does not fix it)")
    if d < 2:
        raise ValueError(f"d must be >= 2 for rank-one sensing (the signal and one orthogonal "
                         f"direction; got {d})")
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {', '.join(SOLVERS)} (got {solver!r})")
    m = batch_size(optimizer, d)
    num_steps = steps_for(optimizer, horizon)
    rec = record_steps(num_steps, horizon.num_points, horizon.spacing)
    keys = jax.random.split(key, seeds)
    risk, state, diverged, dstep = _run(problem, optimizer, keys, d, m, num_steps,
                                        jnp.asarray(rec), dtype, solver, save_state, progress)
    return Curve(step=jnp.asarray(rec), t=jnp.asarray(rec) * optimizer.batch_fraction, risk=risk, state=state,
                 diverged=diverged, diverged_step=dstep, problem=problem, optimizer=optimizer,
                 metadata={"family": "sensing", "method": "simulation", "model": problem.model,
                           "d": d, "batch": m, "seeds": seeds, "dtype": jnp.dtype(dtype).name,
                           "solver": solver, "risk_label": RISK_LABEL[problem.model]})


__all__ = ["measure", "batch_size", "SOLVERS"]
