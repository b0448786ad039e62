r"""The Gaussian-mixture family's increment covariance for the linear-noise expansion.

A sample of class y, $x = y\mu/\sqrt d + \sqrt\Delta z$, has $z\cdot\mu/\sqrt d = u_1$ and
$w\cdot z/\sqrt d = \xi = mu_1 + \sqrt{q - m^2}u_2$ ($u_1, u_2$ independent standard normal),
margin $y\lambda = m + yb + y\sqrt\Delta\,\xi$ and $\varphi = \omega_y y\psi(y\lambda)$; it moves
(m, q, b) by u/d with $u = (\eta'\varphi(y + \sqrt\Delta u_1),\ 2\eta'\varphi(ym + \sqrt\Delta\xi)
+ \eta'^2\Delta\varphi^2,\ \eta_b'\varphi)$, whose mean over the mixture is the ODE's field;
$D = \mathrm{Cov}(u)$ over y, u1, u2 (a Gauss–Hermite rule per class; docs/theory.md,
Finite-d fluctuations).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

_NODES = 24


def increment_covariance(problem, optimizer, state, t):
    """D = Cov(u) in the order (m, q, b)."""
    from .gaussian_mixture import margin_force

    m, q, b = state.m, state.q, state.b
    dtype = q.dtype
    scale = (1.0 - optimizer.checked_momentum()) * jnp.asarray(optimizer.batch, dtype)
    eta = optimizer.lr_at(t, "weights").astype(dtype) / scale
    eta_b = optimizer.lr_at(t, "bias").astype(dtype) / scale
    delta = problem.delta.astype(dtype)
    x, w = np.polynomial.hermite_e.hermegauss(_NODES)
    u1 = jnp.asarray(np.repeat(x, _NODES), dtype)
    u2 = jnp.asarray(np.tile(x, _NODES), dtype)
    weight = jnp.asarray(np.outer(w, w).ravel() / w.sum() ** 2, dtype)
    xi = m * u1 + jnp.sqrt(jnp.maximum(q - m * m, 0.0)) * u2
    moment = jnp.zeros((3, 3), dtype)
    mean = jnp.zeros(3, dtype)
    for y, p, omega in ((1.0, problem.rho, problem.class_weights[0]),
                        (-1.0, 1.0 - problem.rho, problem.class_weights[1])):
        p, omega = p.astype(dtype), omega.astype(dtype)
        phi = omega * y * margin_force(problem.loss, m + y * b + y * jnp.sqrt(delta) * xi)
        u = jnp.stack([eta * phi * (y + jnp.sqrt(delta) * u1),
                       2 * eta * phi * (y * m + jnp.sqrt(delta) * xi) + eta**2 * delta * phi**2,
                       eta_b * phi])
        moment = moment + p * (u * weight[None, :]) @ u.T
        mean = mean + p * (u @ weight)
    return moment - jnp.outer(mean, mean)


def initial_covariance(problem, state):
    """d·Cov of (m, q, b) at the random start w ~ N(0, σ0² I), b = 0: diag(σ0², 2σ0⁴, 0)."""
    s2 = problem.init_scale.astype(state.q.dtype) ** 2
    return jnp.diag(jnp.stack([s2, 2 * s2 * s2, jnp.zeros_like(s2)]))
