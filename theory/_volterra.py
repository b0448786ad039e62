r"""Plain SGD at a constant rate on least squares, at any step count, without stepping.

The exact per-mode recursion (docs/theory.md, Least squares) at momentum 0 and constant
$\gamma$ is linear with constant coefficients,
$a_{k+1} = q\odot a_k + (\gamma^2/B)\,\lambda\,(\lambda\cdot a_k + \sigma^2)$ with
$q_i = (1-\gamma\lambda_i)^2 + \gamma^2\lambda_i^2/B$, so $S_k = \lambda\cdot a_k$ solves the
discrete Volterra equation $S_k = F_k + \sum_{s<k} K_{k-1-s}(S_s + \sigma^2)$ with
$F_k = \sum_i\lambda_i q_i^k a_{0,i}$ and $K_m = (\gamma^2/B)\sum_i\lambda_i^2 q_i^m$. Its
generating function is
$\hat S(z) = [\hat F(z) + z\hat K(z)\sigma^2/(1-z)]/(1 - z\hat K(z))$,
$\hat F = \sum_i \lambda_i a_{0,i}/(1-q_iz)$, $\hat K = (\gamma^2/B)\sum_i\lambda_i^2/(1-q_iz)$,
and $S_k = \frac{1}{2\pi i}\int_{c-i\pi}^{c+i\pi}\hat S(e^{-s})e^{sk}\,ds$. For integer k the
integrand is $2\pi i$-periodic in s, so the segment may be bent into Talbot's contour as long
as the contour stays in the strip $|\mathrm{Im}\,s| < \pi$ (true for $k \ge$ `DIRECT_STEPS`);
every singularity ($s = \log q_i$ and the real roots of $z\hat K = 1$) lies on the negative
real axis when the rate is stable. The trapezoid rule on the contour of Dingfelder &
Weideman ("An improved Talbot method", Numer. Algorithms 2015) converges like
$e^{-1.36N}$; `TALBOT_NODES` = 32 reaches ~1e-12 relative. Cost: O(N d) per recorded step.
Steps below `DIRECT_STEPS` are taken directly.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array

from .checks import is_concrete
from .optim import SGD

TALBOT_NODES = 32
DIRECT_STEPS = 16
_SIGMA, _MU, _NU, _A = -0.6122, 0.5017, 0.2645, 0.6407  # Dingfelder & Weideman (2015)


def check_plain_sgd(optimizer, other_method: str) -> None:
    """This closed form covers `SGD` at a constant rate without momentum (concrete settings
    are checked; traced momentum is checked at run time by the caller)."""
    if type(optimizer) is not SGD or callable(optimizer.lr) or optimizer.group_lr:
        raise ValueError(f"method 'volterra' covers SGD at a constant lr; use method "
                         f"'{other_method}' for schedules and other optimizers")
    if is_concrete(optimizer.momentum) and float(optimizer.momentum) != 0.0:
        raise ValueError(f"method 'volterra' covers SGD without momentum; use method "
                         f"'{other_method}' (got SGD.momentum = {float(optimizer.momentum):g})")


def noise_gain(g_lam: Array, batch) -> Array:
    r"""$\sum_i \gamma\lambda_i / (B(2 - \gamma\lambda_i(1 + 1/B)))$ for `g_lam` $= \gamma\lambda$:
    the recursion converges where it is < 1 with every $\gamma\lambda_i(1 + 1/B) < 2$ (the
    `critical_lr` condition of docs/theory.md, Least squares)."""
    return jnp.sum(g_lam / (batch * (2.0 - g_lam * (1.0 + 1.0 / batch))))


def stable(lam: Array, gamma, batch) -> Array:
    """Whether the recursion at per-step rate `gamma` converges (see `noise_gain`)."""
    g = gamma * lam
    fits = g * (1.0 + 1.0 / batch) < 2.0
    return jnp.all(fits) & (noise_gain(jnp.where(fits, g, 0.0), batch) < 1.0)


def excess_at_steps(lam: Array, a0: Array, noise_var, gamma, batch, steps: Array) -> Array:
    """$S_k = \\sum_i\\lambda_i E[e_i^2]_k$ at the integer `steps` for per-step rate `gamma`,
    batch B, per-mode initial moments `a0` and label-noise variance `noise_var`. Stable
    rates only (see `stable`); the result is meaningless otherwise."""
    dtype = lam.dtype
    batch = jnp.asarray(batch, dtype)
    g = gamma * lam
    gap = g * (2.0 - g * (1.0 + 1.0 / batch))  # 1 - q without cancellation
    q = 1.0 - gap
    c = gamma**2 / batch

    def direct(a, _):
        s = lam @ a
        return q * a + c * lam * (s + noise_var), s

    _, first = jax.lax.scan(direct, a0, None, length=DIRECT_STEPS)
    n = TALBOT_NODES
    theta = -math.pi + (jnp.arange(n, dtype=dtype) + 0.5) * (2.0 * math.pi / n)
    cot = 1.0 / jnp.tan(_A * theta)
    shape = _SIGMA + _MU * theta * cot + 1j * _NU * theta
    slope = _MU * cot - _MU * _A * theta / jnp.sin(_A * theta) ** 2 + 1j * _NU
    weights_f, weights_k = lam * a0, c * lam**2

    def talbot(k):
        k = jnp.maximum(k, DIRECT_STEPS).astype(dtype)
        s = (n / k) * shape
        z, one_minus_z = jnp.exp(-s), -jnp.expm1(-s)  # z -> 1 at large k: keep 1 - z exact
        inv = 1.0 / (gap[None, :] + q[None, :] * one_minus_z[:, None])  # 1 / (1 - q z)
        f_hat, k_hat = inv @ weights_f, inv @ weights_k
        s_hat = (f_hat + z * k_hat * noise_var / one_minus_z) / (1.0 - z * k_hat)
        return jnp.imag(jnp.sum(s_hat * jnp.exp(s * k) * slope)) / k

    steps = jnp.asarray(steps)
    late = jax.lax.map(talbot, steps)
    return jnp.where(steps < DIRECT_STEPS, first[jnp.clip(steps, 0, DIRECT_STEPS - 1)], late)
