r"""Exact finite-d theory of linear first-order methods on least squares (docs/theory.md,
Least squares: more optimizers).

A linear method keeps per eigendirection i a state $u_i \in \mathbb R^m$ (the error of the
iterate and of its auxiliary sequences) and steps $u_i' = A u_i + n\,\hat g_i$ with the
stochastic gradient taken at the point $q\cdot u$: $\hat g_i = \lambda_i\,q\cdot u_i +
\zeta_i$. For Gaussian data the fluctuation $\zeta$ has mean 0 given the state and
$E[\zeta_i^2] = (\lambda_i^2 E[(q\cdot u_i)^2] + \lambda_i S_q + \sigma^2\lambda_i)/B$,
$S_q = \sum_j \lambda_j E[(q\cdot u_j)^2]$ (the Gaussian fourth moment
$E[xx^\top M xx^\top] = 2\Sigma M\Sigma + \mathrm{tr}(M\Sigma)\Sigma$). So the per-mode
second moments $M_i = E[u_i u_i^\top]$ close exactly:

$M_i' = P_i M_i P_i^\top + E[\zeta_i^2]\, n n^\top$, $P_i = A + \lambda_i n q^\top$.

The recorded iterate is $o\cdot u$; at t = 0 every component equals the initial error times
the pattern $s$.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array


class LinearMethod(NamedTuple):
    """One step of a linear method per mode: `A` (m, m) the gradient-free part, `n` (m,)
    where the gradient enters (steps in θ units, i.e. lr/d), `q` (m,) where the gradient is
    taken, `o` (m,) the recorded iterate, `s` (m,) the initial pattern."""

    A: Array
    n: Array
    q: Array
    o: Array
    s: Array


def sgd(gamma, beta) -> LinearMethod:
    """Heavy ball, u = (e_k, e_{k-1})."""
    one, zero = jnp.ones_like(gamma), jnp.zeros_like(gamma)
    return LinearMethod(jnp.array([[1 + beta, -beta], [one, zero]]), jnp.stack([-gamma, zero]),
                        jnp.array([1.0, 0.0]), jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0]))


def nesterov(gamma, beta) -> LinearMethod:
    """optax's Nesterov, u = (e_k, m_k): m' = βm - γg, e' = e + βm' - γg."""
    zero = jnp.zeros_like(gamma)
    return LinearMethod(jnp.array([[1.0 + zero, beta**2], [zero, beta]]),
                        jnp.stack([-gamma * (1 + beta), -gamma]),
                        jnp.array([1.0, 0.0]), jnp.array([1.0, 0.0]), jnp.array([1.0, 0.0]))


def asgd(short, long, alpha, beta) -> LinearMethod:
    """Jain et al.'s ASGD, u = (e_w, e_v), gradient at αw + (1-α)v."""
    return LinearMethod(jnp.array([[alpha, 1 - alpha], [alpha * beta, 1 - alpha * beta]]),
                        jnp.stack([-short, -long]), jnp.stack([alpha, 1 - alpha]),
                        jnp.array([1.0, 0.0]), jnp.array([1.0, 1.0]))


def averaged(base: LinearMethod, weight) -> LinearMethod:
    r"""The base with the running mean ē of its recorded iterate appended:
    $\bar e' = (1-\omega)\bar e + \omega\, o\cdot u'$, $u' = A u + n\hat g$."""
    m = base.A.shape[0]
    row = jnp.concatenate([weight * (base.o @ base.A), jnp.reshape(1 - weight, (1,))])
    A = jnp.concatenate([jnp.concatenate([base.A, jnp.zeros((m, 1))], axis=1), row[None]], axis=0)
    n = jnp.concatenate([base.n, jnp.reshape(weight * (base.o @ base.n), (1,))])
    unit = jnp.zeros(m + 1).at[m].set(1.0)
    return LinearMethod(A, n, jnp.concatenate([base.q, jnp.zeros(1)]), unit,
                        jnp.concatenate([base.s, jnp.ones(1)]))


def initial_moments(method: LinearMethod, a0: Array) -> Array:
    """M_i at t = 0 from the per-mode squared errors a0: a0_i s s^T, shape (d, m, m)."""
    return a0[:, None, None] * jnp.outer(method.s, method.s)[None]


def step(M: Array, method: LinearMethod, lam: Array, batch, noise_var) -> Array:
    """One step of the block second moments (module docstring)."""
    P = method.A[None] + lam[:, None, None] * jnp.outer(method.n, method.q)[None]
    qMq = jnp.einsum("i,kij,j->k", method.q, M, method.q)
    var = (lam**2 * qMq + lam * jnp.sum(lam * qMq) + noise_var * lam) / batch
    return jnp.einsum("kij,kjl,kml->kim", P, M, P) + var[:, None, None] * jnp.outer(method.n, method.n)[None]


def recorded(M: Array, method: LinearMethod) -> Array:
    """Per-mode E[(o·u_i)^2]."""
    return jnp.einsum("i,kij,j->k", method.o, M, method.o)


def stability_gain(method: LinearMethod, lam, batch: float) -> float:
    r"""The loop gain of the constant-rate map on the moments: stable iff every per-mode map
    $L_i(M) = P_iMP_i^\top + (\lambda_i^2/B)\,nn^\top q^\top Mq$ has spectral radius < 1 and
    $G = \sum_i (\lambda_i^2/B)\,(q\otimes q)^\top(I - L_i)^{-1}\mathrm{vec}(nn^\top) < 1$
    (a cone-preserving map with a rank-one feedback through $S_q$). Returns G, or inf when
    some $L_i$ is unstable. For SGD this is `critical_lr`'s condition."""
    A, n, q = (np.asarray(x, dtype=np.float64) for x in method[:3])
    lam = np.asarray(lam, dtype=np.float64)
    lam = lam[lam > 0]  # a mode with no curvature never moves and carries no risk
    m = A.shape[0]
    P = A[None] + lam[:, None, None] * np.outer(n, q)[None]
    qq, nn = np.kron(q, q), np.kron(n, n)
    L = (np.einsum("kij,kab->kiajb", P, P).reshape(-1, m * m, m * m)
         + (lam**2 / batch)[:, None, None] * np.outer(nn, qq)[None])
    if np.max(np.abs(np.linalg.eigvals(L))) >= 1.0:
        return np.inf
    response = np.linalg.solve(np.eye(m * m)[None] - L, np.broadcast_to(nn, (lam.size, m * m))[..., None])
    return float(np.sum(lam**2 / batch * (response[..., 0] @ qq)))
