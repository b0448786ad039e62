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

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ._committee_ode import norm_limit, observed_risk, vector_field
from .checks import check_int_range
from .committee import CommitteeMachine, Overlaps
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


class CommitteeMapCurve(NamedTuple):
    """The committee map's overlaps (leading axis: step 0..steps, t = step·B/d) and risk."""

    t: np.ndarray
    state: Overlaps
    risk: np.ndarray


def committee_step(problem: CommitteeMachine, optimizer: SGD, kappa: float):
    r"""One step of the committee's overlap map for B = κd (docs/theory.md, Large batches):

    $x' = x + \kappa F(x)$ ($F$ the ODE's field, `_committee_ode.vector_field`) and, in Q,
    $+\,\kappa^2\eta'^2 v_kv_l(HCH^\top)_{kl}$, the square of the mean step: with $G_{kb} =
    E[g'_k\Delta f_b] = (HC)_{kb}$ (Stein), $H_{kc} = \delta_{kc}\sum_a u_aE[g''_kg_a] +
    E[g'_kg'_c]u_c$, $E[g'_k\Delta x]\cdot E[g'_l\Delta x]/d = G_kC^{-1}G_l^\top = (HCH^\top)_{kl}$
    ($C$ the fields' covariance; the form without $C^{-1}$ is smooth where C is singular)."""
    field = vector_field(problem, optimizer)
    K = problem.K
    etap = jnp.asarray(optimizer.lr) / optimizer.batch

    def step(state: Overlaps) -> Overlaps:
        cov = problem.covariance(state)
        diag = jnp.diag(cov)
        _, second, cross = problem.act.price(diag[:K, None], cov[:K, :], diag[None, :])
        u = problem.signed_second_layers(state)
        H = cross * u[None, :] + jnp.eye(K, cov.shape[0], dtype=cov.dtype) * (second @ u)[:, None]
        mean_step = (state.v[:, None] * state.v[None, :]) * (H @ cov @ H.T)
        f = field(0.0, state, None)
        Q = state.Q + kappa * f.Q + (kappa * etap) ** 2 * mean_step
        # symmetric in exact arithmetic; rounding would feed Q's antisymmetric part, an
        # unphysical direction in which the map can be unstable
        return Overlaps(0.5 * (Q + Q.T), state.R + kappa * f.R, state.v + kappa * f.v)

    return step


def committee_map(problem: CommitteeMachine, optimizer: SGD, *, d: int, steps: int,
                  init=None) -> CommitteeMapCurve:
    """Iterate `committee_step` for `steps` steps of plain SGD (constant rates, momentum 0) at
    dimension d (κ = batch/d), from `init` or the family's start; risk inf once the norms
    exceed the ODE's `norm_limit` (as the ODE reports divergence)."""
    check_int_range("d", d, 2, 2**31 - 1)
    check_int_range("steps", steps, 1, 10**7)
    if not isinstance(problem, CommitteeMachine):
        raise ValueError("committee_map covers CommitteeMachine (overlap_map: SingleIndex)")
    _check_plain_sgd(optimizer, "committee_map")
    if callable(optimizer.group_lr.get("second_layer")):
        raise ValueError("committee_map needs a constant second_layer rate")
    state0 = problem.initial_state(init)
    traj, risk = _iterate(problem, optimizer, state0, optimizer.batch / d, steps)
    risk = np.asarray(risk)
    return CommitteeMapCurve(optimizer.batch / d * np.arange(steps + 1), traj,
                             np.where(np.isfinite(risk), risk, np.inf))


@eqx.filter_jit
def _iterate(problem, optimizer, state0, kappa, steps):
    step = committee_step(problem, optimizer, kappa)

    def body(s, _):
        s = step(s)
        return s, s

    _, traj = jax.lax.scan(body, state0, None, length=steps)
    traj = jax.tree.map(lambda a, b: jnp.concatenate([a[None], b]), state0, traj)
    q_limit = norm_limit(problem, state0)
    return traj, jax.vmap(lambda s: observed_risk(problem, s, q_limit))(traj)


def _check_plain_sgd(optimizer, name: str) -> None:
    if type(optimizer) is not SGD or callable(optimizer.lr) or float(optimizer.momentum) != 0:
        raise ValueError(f"{name} needs plain SGD: a constant lr and momentum 0")


def committee_map_critical_lr(problem: CommitteeMachine, batch: int, d: int, *,
                              fixed_point: Overlaps | None = None, tol: float = 1e-4) -> float:
    """The largest rate η at which the committee map is linearly stable at `fixed_point`
    (default: the teacher, Q = T, R = T, v = v*, needs K = M): the spectral radius of the
    step's Jacobian (jax) reaches 1; bisection on η/B to relative `tol`. d = inf (float) gives
    the ODE's limit, the Euler step at κ → 0: the rate where an eigenvalue of the field's
    Jacobian crosses 0."""
    check_int_range("batch", batch, 1, 2**31 - 1)
    if fixed_point is None:
        if problem.K != problem.M:
            raise ValueError("committee_map_critical_lr: give fixed_point when K != M")
        fixed_point = Overlaps(problem.T, problem.T, problem.teacher_second_layer)
    iu = np.triu_indices(problem.K)
    trained = problem.train_second_layer

    def pack(s: Overlaps):   # the free coordinates: Q's upper triangle, R, v if trained
        parts = [s.Q[iu], s.R.ravel()] + ([s.v] if trained else [])
        return jnp.concatenate(parts)

    def unpack(x) -> Overlaps:
        n_q, n_r = len(iu[0]), problem.K * problem.M
        Q = jnp.zeros((problem.K, problem.K), x.dtype).at[iu].set(x[:n_q])
        Q = Q + Q.T - jnp.diag(jnp.diag(Q))
        v = x[n_q + n_r:] if trained else fixed_point.v
        return Overlaps(Q, x[n_q:n_q + n_r].reshape(problem.K, problem.M), v)

    x0 = pack(fixed_point)

    def unstable(lr: float) -> bool:
        return bool(_growth(problem, SGD(jnp.asarray(lr, x0.dtype), batch=batch), pack, unpack,
                            x0, batch / d) > 1e-12)

    low, high = 1e-3 * batch, 1.0 * batch
    while not unstable(high):
        low, high = high, 2 * high
        if high > 1e6 * batch:
            raise ValueError("committee_map_critical_lr: no instability below η/B = 1e6")
    while high - low > tol * high:
        mid = 0.5 * (low + high)
        low, high = (low, mid) if unstable(mid) else (mid, high)
    return 0.5 * (low + high)


@eqx.filter_jit
def _growth(problem, optimizer, pack, unpack, x0, kappa):
    """max Re eig of the field's Jacobian (kappa = 0: the ODE), else spectral radius − 1 of
    the step's."""
    if kappa == 0:
        field = vector_field(problem, optimizer)
        jac = jax.jacfwd(lambda x: pack(field(0.0, unpack(x), None)))(x0)
        return jnp.max(jnp.linalg.eigvals(jac).real)
    step = committee_step(problem, optimizer, kappa)
    jac = jax.jacfwd(lambda x: pack(step(unpack(x))))(x0)
    return jnp.max(jnp.abs(jnp.linalg.eigvals(jac))) - 1.0


__all__ += ["CommitteeMapCurve", "committee_step", "committee_map", "committee_map_critical_lr"]
