r"""The order parameters of a committee machine and their ODEs (docs/theory.md, Committee
machines): the state `Overlaps`, the vector field, and the guards that report divergence.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._record import divergence_threshold
from .fields import Configurable, Matrix, Numbers

if TYPE_CHECKING:
    from .committee import CommitteeMachine
    from .optim import SGD


class Overlaps(eqx.Module, Configurable):
    r"""The order parameters: $Q_{kl} = w_k\cdot w_l/d$ (K, K), $R_{km} = w_k\cdot w^*_m/d$
    (K, M) and the student's second layer $v$ (K,). Leading axes (time, seeds) allowed."""

    config_fields = {"Q": Matrix(), "R": Matrix(), "v": Numbers()}
    Q: Array
    R: Array
    v: Array


def overlaps_to_config(state: Overlaps) -> dict:
    return state.to_config()


def _i4_groups(K: int, N: int) -> list[tuple[tuple[int, ...], np.ndarray, np.ndarray, np.ndarray]]:
    """The distinct I4(k, l, a, b) (k ≤ l students, a ≤ b any field), grouped by which slots
    hold the same field: per group its slot pattern, the distinct fields of each quadruple
    (P, r), the quadruples (P, 4), and the multiplicity of (a, b) in the sum over fields."""
    groups: dict[tuple[int, ...], list] = {}
    for k, l in itertools.combinations_with_replacement(range(K), 2):
        for a, b in itertools.combinations_with_replacement(range(N), 2):
            quad = (k, l, a, b)
            fields = list(dict.fromkeys(quad))
            groups.setdefault(tuple(fields.index(i) for i in quad), []).append((fields, quad))
    return [(slots, np.array([f for f, _ in members]), np.array([q for _, q in members]),
             np.array([1.0 if q[2] == q[3] else 2.0 for _, q in members]))
            for slots, members in groups.items()]


def _noise_moment(problem: CommitteeMachine, cov: Array, u: Array) -> Array:
    r"""$E[g'(\lambda_k) g'(\lambda_l) \Delta^2] = \sum_{ab} u_a u_b I_4(k, l, a, b)$, (K, K)."""
    K = problem.K
    act = problem.act
    groups = _i4_groups(K, cov.shape[0])
    if not act.fields_first:  # one batch of 4 × 4 covariances
        quads = np.concatenate([g[2] for g in groups])
        groups = [((0, 1, 2, 3), quads, quads, np.concatenate([g[3] for g in groups]))]
    upper = jnp.zeros((K, K), cov.dtype)
    for slots, fields, quads, mult in groups:
        i4 = act.i4_fields(cov[fields[:, :, None], fields[:, None, :]], slots)
        terms = jnp.asarray(mult, cov.dtype) * u[quads[:, 2]] * u[quads[:, 3]] * i4
        upper = upper.at[quads[:, 0], quads[:, 1]].add(terms)
    return upper + upper.T - jnp.diag(jnp.diag(upper))


def vector_field(problem: CommitteeMachine, optimizer: SGD, gradient_flow: bool = False):
    r"""The right-hand side $(dQ/dt, dR/dt, dv/dt)$ of docs/theory.md (Committee machines) as `f(t, state, args)`.

    With $G_{kb} = E[g'(\lambda_k)\, f_b\, \Delta] = \sum_c u_c I_3(k, b, c) = C_{kb}\sum_c u_c
    E[g''(\lambda_k) g(f_c)] + \sum_c E[g'(\lambda_k) g'(f_c)]\, u_c\, C_{cb}$ over all fields
    $f = (\lambda, \nu)$, $u = (v, -v^*)$, $\eta' = \eta(t)/(1-\beta)$:
    $dR_{km}/dt = -(\eta'/B)\, v_k G_{k,\nu_m}$,
    $dQ_{kl}/dt = -(\eta'/B)(v_k G_{kl} + v_l G_{lk}) + (\eta'/B)^2 v_k v_l (E[g'_kg'_l\Delta^2]
    + \sigma^2 E[g'_k g'_l])$ (the last term dropped for `gradient_flow`),
    $dv_k/dt = -(\eta_v'/B) E[g(\lambda_k)\Delta]$ if the second layer is trained.
    """
    act = problem.act
    K = problem.K
    beta = optimizer.checked_momentum()

    def field(t, state: Overlaps, args):
        cov = problem.covariance(state)
        dtype = cov.dtype
        batch = jnp.asarray(optimizer.batch, dtype)
        eta = optimizer.lr_at(t, "first_layer").astype(dtype) / (1.0 - beta) / batch
        diag = jnp.diag(cov)
        i2, second, cross = act.price(diag[:K, None], cov[:K, :], diag[None, :])
        u = problem.signed_second_layers(state)
        G = (second @ u)[:, None] * cov[:K, :] + (cross * u[None, :]) @ cov
        v = state.v
        drift = v[:, None] * G[:, :K]
        dQ = -eta * (drift + drift.T)
        if not gradient_flow:
            noise = _noise_moment(problem, cov, u) + problem.noise.astype(dtype) ** 2 * cross[:, :K]
            dQ = dQ + eta**2 * (v[:, None] * v[None, :]) * noise
        dR = -eta * v[:, None] * G[:, K:]
        if problem.train_second_layer:
            eta_v = optimizer.lr_at(t, "second_layer").astype(dtype) / (1.0 - beta) / batch
            dv = -eta_v * (i2 @ u)
        else:
            dv = jnp.zeros_like(v)
        return Overlaps(dQ, dR, dv)

    return field


def norm_limit(problem: CommitteeMachine, init: Overlaps) -> Array:
    """The bound on max_k Q_kk beyond which a run counts as diverged: bounded activations
    (erf) saturate instead of letting the risk blow up, so a run whose weights grow without
    bound is diverged too (1e4 × max(max_k Q_kk at the start, max(1, max_m T_mm)))."""
    return divergence_threshold(jnp.max(jnp.diag(init.Q)),
                                jnp.maximum(1.0, jnp.max(jnp.diag(problem.T))))


def observed_risk(problem: CommitteeMachine, state: Overlaps, q_limit: Array,
                  T: Array | None = None) -> Array:
    """The risk, or inf once the student's norms exceed `q_limit` or turn non-finite."""
    risk = problem.risk(state, T)
    big = jnp.max(jnp.diag(state.Q)) > q_limit
    return jnp.where(big | ~jnp.isfinite(risk), jnp.inf, risk)


def solver_kwargs(rtol, atol, max_steps):
    return dict(solver=diffrax.Tsit5(), dt0=None, max_steps=max_steps, throw=False,
                stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol))


