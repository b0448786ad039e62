r"""Batches of order d: the discrete-time overlap map of the single-index family.

With B = κd fresh samples per step and $\eta' = \eta/B$ of order one, one step moves the
overlaps by O(1): the ODE (an infinitesimal step) no longer holds, but the batch mean
concentrates, $\frac1B\sum_b \mathcal E_b x_b = E[\mathcal E x] + O(B^{-1/2})$ per
coordinate, so the overlaps follow a deterministic map (to O(d^{-1/2})):

$m' = m + \kappa\eta' E[\mathcal E\lambda^*]$,
$q' = q + 2\kappa\eta' E[\mathcal E\lambda] + \kappa\eta'^2 E[\mathcal E^2] + \kappa^2\eta'^2\, v^\top C^{-1} v$,

$v = (E[\mathcal E\lambda^*], E[\mathcal E\lambda])$, $C = [[1, m], [m, q]]$ the covariance of
$(\lambda^*, \lambda)$: $\kappa^2\eta'^2 v^\top C^{-1}v$ is $|\eta E[\mathcal E x]|^2/d^2$, the
square of the mean step, which the ODE drops (it is O(κ²) per step of Δt = κ). On the sphere
then $m \leftarrow m'/\sqrt{q'}$, q = 1. As κ → 0 the map is the Euler scheme of the ODE.
Linear link and student: $r = 1 - 2m + q$ obeys $r' = r(1 - 2h + h^2(1 + 1/\kappa)) +
h\eta'\sigma^2$, $h = \kappa\eta'$, stable iff $\eta < 2B/(1 + B/d)$ (the ODE: η < 2B).
docs/theory.md, Large batches; Arnaboldi, Dandi, Krzakala, Loureiro, Pesce, Stephan, "Online
learning and information exponents: the importance of batch size & time/complexity
tradeoffs" (arXiv 2406.02157).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .checks import check_int_range
from .optim import SGD
from .single_index import SingleIndex, SingleIndexState


class MapCurve(NamedTuple):
    """The map's overlaps and risk after each step 0..steps (t = step·B/d)."""

    t: np.ndarray
    m: np.ndarray
    q: np.ndarray
    risk: np.ndarray
    alignment: np.ndarray


def overlap_map(problem: SingleIndex, optimizer: SGD, *, d: int, steps: int,
                init=None) -> MapCurve:
    """Iterate the map (module docstring) for `steps` steps of `optimizer` (plain SGD: constant
    lr, momentum 0) at dimension d (κ = batch/d), from `init` or the family's start."""
    check_int_range("d", d, 2, 2**31 - 1)
    check_int_range("steps", steps, 1, 10**7)
    if not isinstance(problem, SingleIndex) or problem.loss != "square" or \
            float(problem.weight_decay) != 0:
        raise ValueError("overlap_map covers SingleIndex with the square loss and no weight decay")
    if type(optimizer) is not SGD or callable(optimizer.lr) or float(optimizer.momentum) != 0:
        raise ValueError("overlap_map needs plain SGD: a constant lr and momentum 0")
    state = problem.initial_state(init)
    kappa = optimizer.batch / d
    eta = float(optimizer.lr) / optimizer.batch

    def step(s, _):
        m, q = s
        a_star, a, e2, _ = problem.expectations(m, q)
        det = q - m * m
        mean_step = (q * a_star**2 - 2 * m * a_star * a + a**2) / det     # vᵀC⁻¹v
        m_new = m + kappa * eta * a_star
        q_new = q + 2 * kappa * eta * a + kappa * eta**2 * e2 + (kappa * eta) ** 2 * mean_step
        if problem.spherical:
            m_new, q_new = m_new / jnp.sqrt(q_new), jnp.ones_like(q_new)
        return (m_new, q_new), (m_new, q_new)

    s0 = (jnp.asarray(state.m, float), jnp.asarray(state.q, float))
    _, (ms, qs) = jax.lax.scan(step, s0, None, length=steps)
    m = jnp.concatenate([s0[0][None], ms])
    q = jnp.concatenate([s0[1][None], qs])
    obs = jax.vmap(lambda mm, qq: problem.observe(SingleIndexState(mm, qq)))(m, q)
    risk = np.asarray(obs.risk)
    risk = np.where(np.isfinite(risk), risk, np.inf)
    return MapCurve(kappa * np.arange(steps + 1), np.asarray(m), np.asarray(q), risk,
                    np.asarray(obs.observables["alignment"]))


def map_critical_lr(batch: int, d: int) -> float:
    """The map's largest stable rate for the linear single-index model: 2B/(1 + B/d)."""
    check_int_range("batch", batch, 1, 2**31 - 1)
    check_int_range("d", d, 1, 2**31 - 1)
    return 2.0 * batch / (1.0 + batch / d)


__all__ = ["MapCurve", "overlap_map", "map_critical_lr"]
