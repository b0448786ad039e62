r"""The committee family's increment covariance for the linear-noise expansion.

One fresh sample moves the overlaps by $u/d$ with, for $\Delta = f - y$ and
$\eta' = \eta/(B(1-\beta))$ (docs/theory.md, Committee machines; Finite-d fluctuations):
$u_{R_{km}} = -\eta' v_k g'(\lambda_k)\Delta\,\nu_m$,
$u_{Q_{kl}} = -\eta'(v_k g'_k\Delta\lambda_l + v_l g'_l\Delta\lambda_k) + \eta'^2 v_k v_l g'_k g'_l\Delta^2$,
$u_{v_k} = -\eta_v' g(\lambda_k)\Delta$ (trained second layer), whose mean is the ODE's field;
$D = \mathrm{Cov}(u)$ over the local fields and the label noise. These are moments of order up
to 8 without closed forms: a fixed Monte Carlo rule of `DRAWS` Gaussian draws (the same draws
at every state, so D is smooth in the state; relative error ~ DRAWS^-1/2 ≈ 1%).
"""

from __future__ import annotations


import jax.numpy as jnp
import numpy as np

DRAWS = 8192


def _draws(n_fields: int, dtype):
    z = np.random.default_rng(20231).standard_normal((DRAWS, n_fields + 1))
    return jnp.asarray(z, dtype)


def increment_covariance(problem, optimizer, state, t):
    """D = Cov(u) (module docstring) in the order of ravel_pytree(Overlaps): Q, R, v."""
    from .committee import sqrt_factor

    K = problem.K
    cov = problem.covariance(state)
    dtype = cov.dtype
    z = _draws(cov.shape[0], dtype)
    fields = z[:, :-1] @ sqrt_factor(cov).T
    act = problem.act
    beta = optimizer.checked_momentum()
    batch = jnp.asarray(optimizer.batch, dtype)
    eta = optimizer.lr_at(t, "first_layer").astype(dtype) / (1.0 - beta) / batch
    u = problem.signed_second_layers(state)
    delta = act(fields) @ u - problem.noise.astype(dtype) * z[:, -1]
    lam = fields[:, :K]
    a = state.v[None, :] * act.derivative(lam) * delta[:, None]           # v_k g'_k Δ
    dQ = -eta * (a[:, :, None] * lam[:, None, :] + lam[:, :, None] * a[:, None, :]) + \
        eta**2 * a[:, :, None] * a[:, None, :]
    dR = -eta * a[:, :, None] * fields[:, None, K:]
    if problem.train_second_layer:
        eta_v = optimizer.lr_at(t, "second_layer").astype(dtype) / (1.0 - beta) / batch
        dv = -eta_v * act(lam) * delta[:, None]
    else:
        dv = jnp.zeros_like(lam)
    x = jnp.concatenate([dQ.reshape(DRAWS, -1), dR.reshape(DRAWS, -1), dv], axis=1)
    x = x - x.mean(axis=0)
    return x.T @ x / (DRAWS - 1)


def initial_covariance(problem, state):
    r"""d·Cov of (Q, R, v) at a random start $w_k \sim N(0, \sigma_0^2 I_d)$ (d → ∞):
    $d\,\mathrm{Cov}(Q_{kl}, Q_{k'l'}) = \sigma_0^4(\delta_{kk'}\delta_{ll'} + \delta_{kl'}\delta_{lk'})$,
    $d\,\mathrm{Cov}(R_{km}, R_{k'm'}) = \sigma_0^2\delta_{kk'}T_{mm'}$, no cross terms, v fixed."""
    K, M = problem.K, problem.M
    dtype = state.Q.dtype
    s2 = problem.init_scale.astype(dtype) ** 2
    eye = jnp.eye(K, dtype=dtype)
    cq = s2**2 * (jnp.einsum("ac,bd->abcd", eye, eye) + jnp.einsum("ad,bc->abcd", eye, eye))
    cr = s2 * jnp.einsum("ac,bd->abcd", eye, problem.T.astype(dtype))
    n = K * K + K * M + K
    out = jnp.zeros((n, n), dtype)
    out = out.at[:K * K, :K * K].set(cq.reshape(K * K, K * K))
    return out.at[K * K:K * K + K * M, K * K:K * K + K * M].set(cr.reshape(K * M, K * M))


