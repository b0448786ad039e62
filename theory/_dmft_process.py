r"""The two effective processes of discrete-time DMFT for GD / persistent SGD on n = αd samples.

Model: pre-activation $\lambda_\mu = (\text{signal})_\mu + \sqrt\Delta\,(Aw)_\mu$ (+ bias),
$A = Z/\sqrt d$, $Z_{\mu i} \sim N(0, 1)$; step k of GD on $\sum_\mu s^k_\mu \ell_\mu + \frac
r2\|w\|^2$ (selection $s^k_\mu \in \{0, 1\}$, all ones for GD):
$w^{k+1} = (1 - \eta r)w^k - \eta c_k\theta^* - \eta\sqrt\Delta A^\top g^k$, $g^k_\mu =
s^k_\mu\,\partial_\lambda\ell(\lambda^k_\mu, y_\mu)$.

In the limit (Celentano, Montanari, Wu 2021; Gerbelot et al. arXiv 2210.06591, discrete time):

- weight process (linear, solved in closed form): $w^{k+1} = (1 - \eta r)w^k - \eta c_k\theta^*
  - \eta\sqrt\Delta\,[V^k + \alpha\sum_{j\le k}R_g(k, j)w^j]$, $V \sim GP(0, C_V)$,
  $C_V(k, l) = \alpha E[g^k g^l]$; it gives $C(k, l) = E[w^k w^l]$, $m^k = E[\theta^* w^k]$ and
  the response $R_w(k, j) = \partial w^k/\partial V^j$.
- sample process (nonlinear, Monte Carlo): $u^k = U^k + \sum_{j<k}R_w(k, j)g^j$,
  $U \sim GP(0, C)$; $R_g(k, j) = E[\partial g^k/\partial U^j]$ (the exact pathwise
  derivative, a forward recursion per sample).

This module has the two maps; `theory.dmft` iterates them to the fixed point.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array


class SampleStats(NamedTuple):
    """What the weight process needs from the sample process (K steps)."""

    response: Array  # (K, K) R_g(k, j), lower triangular
    noise: Array  # (K, K) C_V = α E[g g^T]
    signal: Array  # (K,) c_k, the coefficient of θ* in the step
    mean: Array  # (K,) α E[g^k], the bias's step


class WeightStats(NamedTuple):
    """The weight process's statistics at the states 0..K."""

    corr: Array  # (K+1, K+1) C(k, l) = E[w^k w^l] (the basis θ* excluded when `teacher_in_field`)
    response: Array  # (K+1, K) R_w(k, j) = ∂w^k/∂V^j
    overlap: Array  # (K+1,) m^k = E[θ* w^k]
    bias: Array  # (K+1,) b^k


def weight_process(stats: SampleStats, *, alpha, lr, ridge, delta, m0, q0, bias_lr) -> WeightStats:
    r"""$w^k$ as coefficients on the basis (θ*, ξ0, V^0..V^{K-1}), ξ0 the unit-variance part of
    $w^0 = m_0\theta^* + \sqrt{q_0 - m_0^2}\,\xi_0$; the recursion above, exactly."""
    K = stats.signal.shape[0]
    sd = jnp.sqrt(delta)
    coef0 = jnp.zeros((K + 1, K + 2)).at[0, 0].set(m0).at[0, 1].set(jnp.sqrt(q0 - m0**2))

    def step(coef, k):
        memory = stats.response[k] @ coef[:K]  # Σ_{j≤k} R_g(k, j) w^j (R_g(k, j>k) = 0)
        new = (1.0 - lr * ridge) * coef[k] - lr * sd * alpha * memory
        new = new.at[0].add(-lr * stats.signal[k]).at[2 + k].add(-lr * sd)
        return coef.at[k + 1].set(new), None

    coef = jax.lax.scan(step, coef0, jnp.arange(K))[0]
    basis = jnp.zeros((K + 2, K + 2)).at[0, 0].set(1.0).at[1, 1].set(1.0)
    basis = basis.at[2:, 2:].set(stats.noise)
    corr = coef @ basis @ coef.T
    bias = jnp.concatenate([jnp.zeros(1), -bias_lr * jnp.cumsum(stats.mean)])
    return WeightStats(corr, coef[:, 2:], coef[:, 0], bias)


def causal_root(c: Array) -> Array:
    """The Cholesky factor L (L L^T = c, lower triangular, a 1e-12 relative jitter for a
    singular c): U^k then depends on C(<=k, <=k) only, so the iteration stays causal (an
    eigen-root mixes late times into early paths and the iteration need not converge)."""
    c = 0.5 * (c + c.T)
    jitter = 1e-12 * jnp.max(jnp.diag(c))
    return jnp.linalg.cholesky(c + jitter * jnp.eye(c.shape[0]))


class SampleDraws(NamedTuple):
    """The fixed randomness of the Monte Carlo (drawn once: the iteration is deterministic)."""

    gauss: Array  # (N, K+2) iid N(0, 1): τ (teacher field) and U^0..U^K
    label: Array  # (N,) the sample's label randomness (class sign or label noise)
    selected: Array  # (N, K) s^k_μ in {0, 1}


def sample_process(ws: WeightStats, draws: SampleDraws, *, alpha, delta, pre_activation: Callable,
                   loss: Callable, teacher_in_field: bool, chunk: int) -> tuple[SampleStats, Array, Array]:
    r"""Monte Carlo of the sample process in chunks; returns its `SampleStats`, the train loss
    $E[\ell(\lambda^k)]$ and the train error $P(y\lambda < 0)$ at the states 0..K.

    `pre_activation(tau, label, m, b, field)` maps the teacher field τ, the label variable, the
    overlap m^k, the bias and $\sqrt\Delta u^k$ to (λ, y); `loss(λ, y)` is the per-sample loss
    (its λ-gradient is g, its second derivative the pathwise response)."""
    K = ws.response.shape[1]
    sd = jnp.sqrt(delta)
    if teacher_in_field:  # (τ, U^0..U^K) jointly Gaussian, Cov(τ, U^k) = m^k
        joint = jnp.block([[jnp.ones((1, 1)), ws.overlap[None, :]],
                           [ws.overlap[:, None], ws.corr]])
    else:
        joint = jnp.zeros((K + 2, K + 2)).at[0, 0].set(1.0).at[1:, 1:].set(ws.corr)
    root = causal_root(joint)
    grad = jax.grad(loss)
    curv = jax.grad(grad)

    def one_chunk(gauss, label, selected):
        fields = gauss @ root.T  # (n, K+2)
        tau, u_free = fields[:, 0], fields[:, 1:]
        n = tau.shape[0]

        def step(carry, k):
            g_hist, jac = carry  # (n, K), (n, K, K)
            u = u_free[:, k] + g_hist @ ws.response[k]
            lam, y = pre_activation(tau, label, ws.overlap[k], ws.bias[k], sd * u)
            s = selected[:, jnp.minimum(k, K - 1)]
            g = s * jax.vmap(grad)(lam, y)
            dg = s * jax.vmap(curv)(lam, y) * sd
            row = dg[:, None] * (jnp.eye(K)[jnp.minimum(k, K - 1)][None, :]
                                 + jnp.einsum("j,njl->nl", ws.response[k], jac))
            keep = k < K
            g_hist = jnp.where(keep, g_hist.at[:, jnp.minimum(k, K - 1)].set(g), g_hist)
            jac = jnp.where(keep, jac.at[:, jnp.minimum(k, K - 1)].set(row), jac)
            train = jnp.mean(jax.vmap(loss)(lam, y))
            wrong = jnp.mean(y * lam < 0)
            return (g_hist, jac), (train, wrong)

        init = (jnp.zeros((n, K)), jnp.zeros((n, K, K)))
        (g_hist, jac), (train, wrong) = jax.lax.scan(step, init, jnp.arange(K + 1))
        y_all = pre_activation(tau, label, 0.0, 0.0, jnp.zeros_like(tau))[1]
        return (jnp.mean(jac, 0), g_hist.T @ g_hist / n, g_hist.T @ tau / n,
                g_hist.T @ y_all / n, jnp.mean(g_hist, 0), train, wrong)

    N = draws.gauss.shape[0]
    parts = N // chunk
    split = lambda x: x[: parts * chunk].reshape(parts, chunk, *x.shape[1:])
    out = jax.lax.map(lambda a: one_chunk(*a), (split(draws.gauss), split(draws.label),
                                                split(draws.selected)))
    resp, gg, g_tau, g_y, g_mean, train, wrong = (jnp.mean(x, 0) for x in out)
    resp = jnp.tril(resp)
    if teacher_in_field:  # Stein in τ at fixed Ũ = U - m τ: E[∂g/∂τ|_U] = E[τ g] - Σ_j m^j R_g
        signal = alpha * (g_tau - resp @ ws.overlap[:K])
    else:  # the mean y θ*/√d of the inputs
        signal = alpha * g_y
    return SampleStats(resp, alpha * gg, signal, alpha * g_mean), train, wrong
