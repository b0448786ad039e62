r"""Window statistics of a coordinate-wise rule in its fixed-β high-dimensional limit.

A rule updates each coordinate by $U = \sum_k a_k X_k / (\sum_k b_k X_k^2)^{1/2}$ over the
gradient history $X_0, X_1, \dots$ (newest first; Adam: $a_k = (1-\beta_1)\beta_1^k$,
$b_k = (1-\beta_2)\beta_2^k$; RMSprop: $a = \delta_{k0}$; sign-SGD: $a = b = \delta_{k0}$). With
β fixed as d → ∞ the window spans O(1) steps, over which the weights do not move, so the
$X_k = z_k \mathcal E_k$ are i.i.d. (z the coordinate's standardised input, $\mathcal E$ the
sample's error signal). Writing $S^{-p} = \Gamma(p)^{-1}\int_0^\infty u^{p-1}e^{-uS}du$ the
expectations factorise over k (docs/theory.md, Coordinate-wise optimizers):

$\phi = E[\sum_k a_k X_k^2 S^{-1/2}] = \pi^{-1/2}\int_0^\infty u^{-1/2}P(u)\sum_k a_k
\rho(u b_k)\,du$, $\;s = E[U^2] = \int_0^\infty P(u)\sum_k a_k^2\rho(u b_k)\,du$,

$P(u) = \prod_l \psi(u b_l)$, $\psi(c) = E[e^{-cX^2}]$, $\rho(c) = E[X^2e^{-cX^2}]/\psi(c)$
(cross terms vanish: X is symmetric). For least squares $\mathcal E$ is Gaussian and, without
ε, φ and s are pure numbers of (a, b): this module computes them once, in numpy, by
trapezoidal rules in log u and log ρ (spectrally accurate for these smooth integrands) and
the Euler–Maclaurin tail of the product over a long window.
"""

from __future__ import annotations

import functools
import math

import numpy as np

_H = 0.01            # step of the rules in log c and log u
_LOG_C = (-40.0, 80.0)
_LOG_U = (-70.0, 75.0)
_EXACT_TERMS = 64    # history terms summed exactly before the Euler–Maclaurin tail
MAX_TERMS = 20_000
"""Longest first-moment window (terms to weight 1e-16) the rule accepts: β1 <= 0.998."""


@functools.lru_cache(maxsize=1)
def _gaussian_product_tables():
    r"""$\log\psi$ and ρ on the log-c grid for $X = z\rho$, z, ρ independent N(0, 1):
    $E_\rho[(1 + 2c\rho^2)^{-1/2}]$ and $E_\rho[\rho^2(1 + 2c\rho^2)^{-3/2}]$ (z done in closed
    form), by the trapezoidal rule in log ρ."""
    s = np.arange(-30.0, 4.0, 0.02)
    rho2 = np.exp(2 * s)
    weight = 2 * 0.02 * np.exp(s) * np.exp(-rho2 / 2) / math.sqrt(2 * math.pi)
    log_c = np.arange(_LOG_C[0], _LOG_C[1] + _H, _H)
    one = 1.0 + 2.0 * np.exp(log_c)[:, None] * rho2[None, :]
    psi = (weight / np.sqrt(one)).sum(axis=1)
    chi = (weight * rho2 / one**1.5).sum(axis=1)
    log_psi = np.log(psi)
    # cumulative integral of log psi in log c from -inf (log psi ~ -c below the grid)
    cumulative = -math.exp(log_c[0]) + np.concatenate(
        [[0.0], np.cumsum(0.5 * _H * (log_psi[1:] + log_psi[:-1]))])
    return log_c, log_psi, chi / psi, cumulative


def _interp(x, grid, values, small):
    """Linear interpolation on the uniform grid; `small(c)` below it (the small-c series)."""
    inside = np.interp(x, grid, values)
    return np.where(x < grid[0], small(np.exp(np.minimum(x, grid[0]))), inside)


def _terms(beta: float) -> int:
    return 1 if beta == 0 else int(math.ceil(math.log(1e-16) / math.log(beta))) + 1


MC_WINDOWS = 1 << 19
"""Windows of the fixed-seed Monte Carlo of Adam's long-run noise (`adam_noise`)."""


def _history(beta: float, tol: float) -> np.ndarray:
    n = 1 if beta == 0 else int(math.ceil(math.log(tol) / math.log(beta)))
    return (1 - beta) * beta ** np.arange(n)


@functools.lru_cache(maxsize=64)
def adam_noise(b1: float, b2: float) -> tuple[float, float]:
    r"""Adam's long-run mean square update per step and its standard error:
    $E[C^2]$, $C = X_0\sum_l a_l S_l^{-1/2}$ the total contribution of one gradient to all
    later updates ($S_l$ the second moment l steps later, which holds $b_l X_0^2$). Different
    gradients' contributions are uncorrelated (X is symmetric), so this is the sum over lags
    of the updates' autocovariance: momentum correlates successive updates, and the per-step
    $E[U^2]$ would understate the noise. By a fixed-seed Monte Carlo over `MC_WINDOWS`
    windows (weights cut at 1e-10 and 1e-12): the lag sum does not factorise."""
    a, b = _history(b1, 1e-10), _history(b2, 1e-12)
    if a.size * (a.size + b.size) > 200_000:
        raise ValueError(f"Adam.b1, Adam.b2: windows of {a.size} and {b.size} steps are too long "
                         "for the theory's Monte Carlo (b1 <= 0.9 with b2 <= 0.99)")
    rng = np.random.default_rng(20241120)
    span = a.size + b.size - 1  # X_{l - i} for l < a.size, i < b.size
    lag = np.arange(span)[:, None] - np.arange(a.size)[None, :]  # M[j, l] = b_{l - j + |b| - 1}
    lag = a.size - 1 - lag + (b.size - a.size)
    weights = np.where((lag >= 0) & (lag < b.size), b[np.clip(lag, 0, b.size - 1)], 0.0)
    total, total2, n = 0.0, 0.0, 0
    chunk = max(1, 4_000_000 // span)
    while n < MC_WINDOWS:
        m = min(chunk, MC_WINDOWS - n)
        x2 = (rng.standard_normal((m, span)) * rng.standard_normal((m, span))) ** 2
        s = x2 @ weights
        c2 = x2[:, b.size - 1] * ((s ** -0.5) @ a) ** 2
        total, total2, n = total + c2.sum(), total2 + (c2 ** 2).sum(), n + m
    mean = total / n
    return float(mean), float(math.sqrt(max(total2 / n - mean**2, 0.0) / n))


@functools.lru_cache(maxsize=64)
def gaussian_window(b1: float, b2: float, rms_only: bool) -> tuple[float, float]:
    r"""(φ, s) of Adam(β1 = b1, β2 = b2) on Gaussian errors without ε (RMSprop: `rms_only`,
    $a = \delta_{k0}$; sign-SGD: b1 = b2 = 0). A pure number pair: the drift of a coordinate is
    φ × its covariance with the error over the error's standard deviation, s the mean square
    update (module docstring)."""
    if b1 > 0 and _terms(b1) > MAX_TERMS:
        raise ValueError(f"Adam.b1 must be <= 0.998 for the theory (got {b1:g})")
    log_c, log_psi, ratio, cumulative = _gaussian_product_tables()
    lpsi = lambda x: _interp(x, log_c, log_psi, lambda c: -c + 4 * c * c)
    rho = lambda x: _interp(x, log_c, ratio, lambda c: 1 - 8 * c)
    tau = np.arange(_LOG_U[0], _LOG_U[1] + _H, _H)
    u = np.exp(tau)
    base = tau + math.log(1 - b2)
    # log P(u) = sum_l log psi(u b_l), b_l = (1 - b2) b2^l
    if b2 == 0:
        log_p = lpsi(base)
    else:
        delta = -math.log(b2)
        n = min(_EXACT_TERMS, _terms(b2))
        shifts = base[:, None] - delta * np.arange(n)[None, :]
        log_p = lpsi(shifts).sum(axis=1)
        if n < _terms(b2):  # Euler–Maclaurin tail from l = n
            s0 = base - delta * n
            tail_int = np.where(s0 < log_c[0], -np.exp(np.minimum(s0, log_c[0])),
                                np.interp(s0, log_c, cumulative)) / delta
            slope = (lpsi(s0 + 1e-4) - lpsi(s0 - 1e-4)) / 2e-4
            log_p = log_p + tail_int + 0.5 * lpsi(s0) + delta * slope / 12
    if rms_only or b1 == 0:
        first, second = rho(base), rho(base)
    else:
        k = np.arange(_terms(b1))
        a = (1 - b1) * b1**k
        first = np.zeros_like(tau)
        second = np.zeros_like(tau)
        for chunk in np.array_split(np.arange(k.size), max(1, k.size // 256)):
            r = rho(base[:, None] + math.log(b2) * k[None, chunk] if b2 > 0 else
                    np.where(k[None, chunk] == 0, base[:, None], -np.inf))
            first += r @ a[chunk]
            second += r @ a[chunk] ** 2
    p = np.exp(log_p)
    phi = _H * np.sum(np.sqrt(u) * p * first) / math.sqrt(math.pi)
    s = _H * np.sum(u * p * second)
    return float(phi), float(s)


__all__ = ["gaussian_window", "MAX_TERMS"]
