r"""The single-index family's increment covariance for the linear-noise expansion.

One fresh sample moves $(m, q)$ by $u/d$ with (plain SGD, $\eta' = \eta/(B(1-\beta))$)
$u = (\eta'\mathcal E\lambda^*,\; 2\eta'\mathcal E\lambda + \eta'^2\mathcal E^2)$, and on the
sphere $u_m = \eta'\mathcal E\lambda^* - m(\eta'\mathcal E\lambda + \tfrac12\eta'^2\mathcal E^2)$,
$u_q = 0$ (weight decay is deterministic); d samples per unit t, so the increments' covariance
per unit t is $\mathrm{Cov}(u)/d$: $D = \mathrm{Cov}(u)$ over $(\lambda, \lambda^*, \xi)$.
The |x|²/d − 1 and cross-sample terms enter at O(1/d²) (B ≪ d). docs/theory.md, Finite-d
fluctuations.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

_NOISE_NODES = 4  # Gauss–Hermite in the label noise ξ: exact for Cov(u), degree 4 in ξ


def increment_covariance(problem, optimizer, state, t):
    """D = Cov(u) (module docstring), a 2 × 2 matrix in the order (m, q)."""
    from .single_index import _derivative, polar_rule

    m, q = state.m, state.q
    dtype = m.dtype
    eta = optimizer.lr_at(t, "weights").astype(dtype) / (1.0 - optimizer.checked_momentum()) / \
        jnp.asarray(optimizer.batch, dtype)
    teacher, lam, weight = polar_rule(m, q, problem.quadrature)
    y, f, df = problem.g(teacher), problem.sigma(lam), _derivative(problem.sigma)(lam)
    if problem.loss == "square":
        xi, wxi = np.polynomial.hermite_e.hermegauss(_NOISE_NODES)
        xi = jnp.asarray(xi, dtype)[:, None]
        wxi = jnp.asarray(wxi / np.sqrt(2 * np.pi), dtype)[:, None]
        shape = (_NOISE_NODES, weight.shape[0])
        row = lambda v: jnp.broadcast_to(v[None, :], shape)
        err = ((row(y) + problem.noise.astype(dtype) * jnp.broadcast_to(xi, shape) - row(f))
               * row(df)).ravel()                                       # (noise nodes × nodes)
        weight = (jnp.broadcast_to(wxi, shape) * row(weight)).ravel()
        teacher, lam = row(teacher).ravel(), row(lam).ravel()
    else:
        err = y * jax.nn.sigmoid(-y * f) * df
    if problem.spherical:
        u = jnp.stack([eta * err * teacher - m * (eta * err * lam + 0.5 * eta**2 * err**2),
                       jnp.zeros_like(err)])
    else:
        u = jnp.stack([eta * err * teacher, 2 * eta * err * lam + eta**2 * err**2])
    mean = u @ weight
    return (u * weight[None, :]) @ u.T - jnp.outer(mean, mean)


def initial_covariance(problem, state):
    r"""d·Cov of (m, q) at the random start: $w \sim N(0, \sigma_0^2 I)$ gives
    diag(σ0², 2σ0⁴); on the sphere m is the cosine of a uniform direction, diag(1, 0)."""
    dtype = state.m.dtype
    if problem.spherical:
        return jnp.diag(jnp.asarray([1.0, 0.0], dtype))
    s2 = problem.init_scale.astype(dtype) ** 2
    return jnp.diag(jnp.stack([s2, 2 * s2 * s2]))
