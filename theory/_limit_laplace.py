r"""Least squares' high-d ODE at a constant rate, at any time without stepping.

The ODE of `theory.linreg` (docs/theory.md, Least squares), in w units $\tilde a_i = d\,a_i$,
is linear with constant coefficients at a constant rate:
$\tilde a_i' = -\alpha\lambda_i\tilde a_i + \kappa\lambda_i(S + \sigma^2)$,
$S = \frac1d\sum_j\lambda_j\tilde a_j = 2R$, $\alpha = 2\eta'/B$, $\kappa = \eta'^2/B^2$. Its
Laplace transform closes on S:
$\hat S(s) = [\hat F(s) + \hat K(s)\sigma^2/s]/(1 - \hat K(s))$,
$\hat F = \frac1d\sum_i\lambda_i\tilde a_i(0)/(s + \alpha\lambda_i)$,
$\hat K = \frac{\kappa}{d}\sum_i\lambda_i^2/(s + \alpha\lambda_i)$, and each mode follows,
$\hat a_i = [\tilde a_i(0) + \kappa\lambda_i(\hat S + \sigma^2/s)]/(s + \alpha\lambda_i)$.
Every singularity is real: the poles $-\alpha\lambda_i$, s = 0 (noise) and the roots of
$\hat K = 1$ ($\mathrm{Im}\,\hat K \ne 0$ off the real axis); the largest root is positive
exactly when $\hat K(0) = \eta'\sum_i\lambda_i/(2Bd) > 1$ (the ODE's stability limit), and
is then found by bisection and the contour shifted past it. The inversion is the trapezoid
rule on the Talbot contour of Dingfelder & Weideman (Numer. Algorithms 2015), as in
`theory._volterra` (32 nodes, ~1e-12 relative). Cost O(N d) per recorded time, against
an explicit solver whose steps grow with $\eta\lambda_{\max}t$ (stiff for power laws).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ._volterra import TALBOT_NODES, _A, _MU, _NU, _SIGMA

_BISECTIONS = 200


def _contour(dtype):
    """Talbot's contour points and slopes (in units of N/t) at the trapezoid nodes."""
    n = TALBOT_NODES
    theta = -math.pi + (jnp.arange(n, dtype=dtype) + 0.5) * (2.0 * math.pi / n)
    cot = 1.0 / jnp.tan(_A * theta)
    shape = _SIGMA + _MU * theta * cot + 1j * _NU * theta
    slope = _MU * cot - _MU * _A * theta / jnp.sin(_A * theta) ** 2 + 1j * _NU
    return shape, slope


def growth_rate(lam: Array, alpha, kappa) -> Array:
    """The largest real root of $\\hat K(s) = 1$ if it is >= 0, else 0 (a stable rate)."""
    d = lam.shape[0]

    def k_hat(s):
        return kappa / d * jnp.sum(lam**2 / (s + alpha * lam))

    def halve(_, bracket):
        low, high = bracket
        mid = 0.5 * (low + high)
        above = k_hat(mid) > 1.0
        return jnp.where(above, mid, low), jnp.where(above, high, mid)

    high = kappa / d * jnp.sum(lam**2) + 1.0  # K_hat(s) < kappa sum(lam^2)/(d s) <= 1 beyond
    low, high = jax.lax.fori_loop(0, _BISECTIONS, halve, (jnp.zeros_like(high), high))
    return jax.lax.stop_gradient(jnp.where(k_hat(0.0) > 1.0, high, 0.0))


def modes_at_times(lam: Array, a0: Array, noise_var, alpha, kappa, times: Array,
                   with_modes: bool = True):
    """(S(t), ã(t)) at `times` (t = 0 gives the start) for w-unit moments `a0`; ã is None
    without `with_modes`."""
    dtype = lam.dtype
    d = lam.shape[0]
    shape, slope = _contour(dtype)
    shift = growth_rate(lam, alpha, kappa)
    weights_f, weights_k = lam * a0 / d, kappa * lam**2 / d

    def at(t):
        late = t > 0
        t = jnp.where(late, t, 1.0)
        s = shift + (TALBOT_NODES / t) * shape
        inv = 1.0 / (s[:, None] + alpha * lam[None, :])
        k_hat = inv @ weights_k
        forcing = noise_var / s
        s_hat = (inv @ weights_f + k_hat * forcing) / (1.0 - k_hat)
        weight = jnp.exp(s * t) * slope / (1j * t)  # the trapezoid rule's weights
        risk2 = jnp.real(jnp.sum(s_hat * weight))
        s0 = jnp.sum(weights_f)
        if not with_modes:
            return jnp.where(late, risk2, s0), None
        a_hat = inv * (a0[None, :] + kappa * lam[None, :] * (s_hat + forcing)[:, None])
        a = jnp.real(weight @ a_hat)
        return jnp.where(late, risk2, s0), jnp.where(late, a, a0)

    return jax.lax.map(at, jnp.asarray(times, dtype))
