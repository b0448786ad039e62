r"""Dynamical mean-field theory (DMFT) of GD and persistent SGD on a fixed training set.

n = αd samples are trained on for many steps by $w^{k+1} = (1 - \eta r)w^k - \eta\nabla_w
\sum_\mu s^k_\mu\ell_\mu$ (the summed loss, $\lambda_\mu = w\cdot x_\mu/\sqrt d\ (+\,b)$; s ≡ 1:
GD; $s^k_\mu$ a two-state chain of mean b, the batch fraction: persistent SGD, Mignacco,
Krzakala, Urbani, Zdeborová, arXiv 2006.06098). No ODE closes when the data are reused: the
limit is a pair of self-consistent effective processes (`theory._dmft_process`), solved here
in discrete time (exact for GD at any step size η, no time discretisation error) by damped
iteration of a fixed-seed Monte Carlo of the sample process. docs/theory.md, DMFT.

- `solve_mixture`: two Gaussian clusters $x = y\theta^*/\sqrt d + \sqrt\Delta z$, labels ±1
  (P(+1) = ρ), margin losses of `theory.gaussian_mixture` (logistic, hinge, square), ridge r,
  a trained bias ($b^{k+1} = b^k - \eta\alpha E[s\,\partial_\lambda\ell]$).
- `solve_single_index`: $x \sim N(0, I)$, $y = g(\theta^*\cdot x/\sqrt d) + \sigma\xi$, square
  loss of a student $\sigma_s(\lambda)$.

The test observables are those of the one-pass families at the DMFT's $(m^k, q^k = C(k, k),
b^k)$ (a fresh point's margin is Gaussian); the train loss and train error come from the
sample process. The iteration is causal (step k needs only steps < k), so with a fixed seed
it converges exactly; it is refused in one line if the residual is not below `tol` after
`max_sweeps`.
"""

from __future__ import annotations

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._dmft_process import SampleDraws, SampleStats, sample_process, weight_process
from ._links import make_link
from .checks import check_integer, check_range
from .gaussian_mixture import LOSSES, GaussianMixture, MixtureState, margin_loss
from .single_index import SingleIndex


class DMFTSolution(NamedTuple):
    """The solved processes at the states k = 0..K (step k's parameters)."""

    steps: Array  # (K+1,) 0..K
    overlap: Array  # m^k
    norm: Array  # q^k = C(k, k)
    bias: Array  # b^k
    corr: Array  # C(k, l)
    response: Array  # R_w(k, j)
    train_loss: Array  # E[ℓ] over the training set (no ridge term)
    train_error: Array  # P(yλ < 0) over the training set
    residuals: tuple  # max relative change of the sample statistics, per sweep
    observables: dict  # test observables (arrays over k)


def _selection(key, samples, steps, fraction, refresh) -> Array:
    r"""$s^k_\mu$: $s^0 \sim$ Bernoulli(b); each step, with probability `refresh` a fresh
    Bernoulli(b) draw, else kept (refresh 1: a new random batch each step; small: persistent)."""
    k0, k1, k2 = jax.random.split(key, 3)
    start = jax.random.uniform(k0, (samples,)) < fraction
    redraw = jax.random.uniform(k1, (steps, samples)) < refresh
    fresh = jax.random.uniform(k2, (steps, samples)) < fraction

    def step(s, a):
        r, f = a
        s = jnp.where(r, f, s)
        return s, s

    rest = jax.lax.scan(step, start, (redraw[1:], fresh[1:]))[1]
    return jnp.concatenate([start[None], rest]).T.astype(float)


def refresh_probability(lr: float, fraction: float, persistence: float | None) -> float:
    r"""Mignacco et al.'s chain in discrete time: 0 → 1 at rate 1/τ, 1 → 0 at rate
    (1 - b)/(bτ); per step of length η that is a redraw with probability η/(bτ). τ = None:
    η/b (a fresh batch each step, SGD)."""
    if persistence is None:
        return 1.0
    check_range("persistence", persistence, low=lr / fraction)
    return lr / (fraction * persistence)


def _whitened(eps: Array) -> Array:
    """Standard normal draws with exactly zero sample mean and identity sample covariance
    (a control variate: the Gaussian part of every second moment is then exact)."""
    n = eps.shape[0]
    q, r = jnp.linalg.qr(eps - jnp.mean(eps, 0, keepdims=True))
    return q * jnp.sign(jnp.diag(r))[None, :] * math.sqrt(n)


def _check_common(alpha, lr, steps, samples, chunk, batch_fraction, damping, ridge):
    check_range("alpha", alpha, low=0.0, low_open=True)
    check_range("lr", lr, low=0.0, low_open=True)
    check_range("ridge", ridge, low=0.0)
    check_integer("steps", steps, low=1)
    check_integer("samples", samples, low=1)
    check_integer("chunk", chunk, low=1)
    if samples % chunk:
        raise ValueError(f"samples must be a multiple of chunk = {chunk} (got {samples})")
    check_range("batch_fraction", batch_fraction, low=0.0, high=1.0, low_open=True)
    check_range("damping", damping, low=0.0, high=1.0, low_open=True)


def _iterate(sweep, stats: SampleStats, damping, tol, max_sweeps, label):
    """Damped fixed-point iteration: stats ← stats + damping · (map(stats) − stats)."""
    residuals = []
    for _ in range(max_sweeps):
        new, aux = sweep(stats)
        change = max(float(jnp.max(jnp.abs(a - b))) / (1.0 + float(jnp.max(jnp.abs(a))))
                     for a, b in zip(new, stats))
        residuals.append(change)
        if not math.isfinite(change):
            break
        stats = SampleStats(*(b + damping * (a - b) for a, b in zip(new, stats)))
        if change < tol:
            return stats, aux, tuple(residuals)
    raise RuntimeError(f"DMFT ({label}) did not converge: residual {residuals[-1]:.3g} > tol "
                       f"{tol:g} after {len(residuals)} sweeps (lower lr or damping, or raise "
                       "max_sweeps)")


def _solve(pre_activation, loss, *, alpha, lr, ridge, delta, m0, q0, bias_lr, steps, samples,
           chunk, batch_fraction, refresh, teacher_in_field, seed, damping, tol, max_sweeps,
           label):
    K = steps
    key = jax.random.key(seed)
    kg, kl, ks = jax.random.split(key, 3)
    if teacher_in_field:  # the label noise ξ is Gaussian too: whitened with the fields
        both = _whitened(jax.random.normal(kg, (samples, K + 3)))
        gauss, labels = both[:, :-1], both[:, -1]
    else:
        gauss, labels = _whitened(jax.random.normal(kg, (samples, K + 2))), \
            jax.random.uniform(kl, (samples,))
    draws = SampleDraws(gauss, labels, _selection(ks, samples, K, batch_fraction, refresh))
    common = dict(alpha=alpha, delta=delta)

    @jax.jit
    def sweep(stats):
        ws = weight_process(stats, lr=lr, ridge=ridge, m0=m0, q0=q0, bias_lr=bias_lr, **common)
        new, train, wrong = sample_process(ws, draws, pre_activation=pre_activation, loss=loss,
                                           teacher_in_field=teacher_in_field, chunk=chunk, **common)
        return new, (ws, train, wrong)

    zeros = SampleStats(jnp.zeros((K, K)), jnp.zeros((K, K)), jnp.zeros(K), jnp.zeros(K))
    stats, (ws, train, wrong), residuals = _iterate(sweep, zeros, damping, tol, max_sweeps, label)
    ws = weight_process(stats, lr=lr, ridge=ridge, m0=m0, q0=q0, bias_lr=bias_lr, **common)
    return ws, train, wrong, residuals


def solve_mixture(problem: GaussianMixture, alpha: float, lr: float, steps: int, *, ridge=0.0,
                  batch_fraction=1.0, persistence=None, train_bias=True, samples=8192,
                  chunk=1024, seed=0, damping=1.0, tol=1e-8, max_sweeps=200) -> DMFTSolution:
    r"""DMFT of GD (or persistent SGD) on n = αd samples of `problem`'s two clusters, from
    its initial (m, q, b = 0); `steps` steps of size `lr`, ridge r on w (the class weights of
    the problem are not used)."""
    _check_common(alpha, lr, steps, samples, chunk, batch_fraction, damping, ridge)
    refresh = refresh_probability(lr, batch_fraction, persistence)
    start = problem.initial_state()
    rho = float(problem.rho)

    def pre_activation(tau, label, m, b, field):
        y = jnp.where(label < rho, 1.0, -1.0)
        return y * m + b + field, y

    def loss(lam, y):
        return margin_loss(problem.loss, y * lam)

    ws, train, wrong, residuals = _solve(
        pre_activation, loss, alpha=alpha, lr=lr, ridge=ridge, delta=problem.delta,
        m0=start.m, q0=start.q, bias_lr=lr if train_bias else 0.0, steps=steps,
        samples=samples, chunk=chunk, batch_fraction=batch_fraction, refresh=refresh,
        teacher_in_field=False, seed=seed, damping=damping, tol=tol, max_sweeps=max_sweeps,
        label="gaussian mixture")
    q = jnp.diag(ws.corr)
    test = jax.vmap(lambda m, q, b: problem.observe(MixtureState(m, q, b)))(ws.overlap, q, ws.bias)
    obs = {"test_loss": test.risk, **test.observables}
    return DMFTSolution(jnp.arange(steps + 1), ws.overlap, q, ws.bias, ws.corr, ws.response,
                        train, wrong, residuals, obs)


def solve_single_index(problem: SingleIndex, alpha: float, lr: float, steps: int, *,
                       ridge=0.0, batch_fraction=1.0, persistence=None, samples=8192,
                       chunk=1024, seed=0, damping=1.0, tol=1e-8,
                       max_sweeps=200) -> DMFTSolution:
    r"""DMFT of GD (or persistent SGD) on n = αd samples of a single-index teacher, square
    loss $\frac12(\sigma_s(\lambda) - y)^2$ (no bias), from `problem`'s initial (m, q)."""
    if problem.loss != "square":
        raise ValueError(f"SingleIndex.loss must be 'square' for the DMFT (got {problem.loss!r})")
    _check_common(alpha, lr, steps, samples, chunk, batch_fraction, damping, ridge)
    refresh = refresh_probability(lr, batch_fraction, persistence)
    start = problem.initial_state()
    link, act = make_link(problem.link, "link"), make_link(problem.activation, "activation")
    noise = float(problem.noise)

    def pre_activation(tau, label, m, b, field):
        return field, link(tau) + noise * label

    def loss(lam, y):
        return 0.5 * (act(lam) - y) ** 2

    ws, train, wrong, residuals = _solve(
        pre_activation, loss, alpha=alpha, lr=lr, ridge=ridge, delta=1.0, m0=start.m,
        q0=start.q, bias_lr=0.0, steps=steps, samples=samples, chunk=chunk,
        batch_fraction=batch_fraction, refresh=refresh, teacher_in_field=True, seed=seed,
        damping=damping, tol=tol, max_sweeps=max_sweeps, label="single index")
    q = jnp.diag(ws.corr)
    obs = {"test_risk": jax.vmap(problem.risk)(ws.overlap, q)}
    return DMFTSolution(jnp.arange(steps + 1), ws.overlap, q, ws.bias, ws.corr, ws.response,
                        train, jnp.full_like(train, jnp.nan), residuals, obs)


__all__ = ["DMFTSolution", "refresh_probability", "solve_mixture", "solve_single_index"]
