"""The symmetric plateau of committee machines (docs/theory.md, The symmetric plateau): the
fixed point of the ODEs where all student units are alike, its escape rate, and when a
trajectory enters and leaves it."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from ._committee_ode import Overlaps, overlaps_to_config, solver_kwargs, vector_field

if TYPE_CHECKING:
    from .committee import CommitteeMachine
    from .optim import SGD


class PlateauPoint(NamedTuple):
    """The symmetric fixed point: its overlaps, risk (the plateau height) and the growth
    rate of its most unstable direction (escape ∝ exp(rate · t))."""

    state: Overlaps
    height: float
    escape_rate: float

    def to_dict(self, times: dict | None = None) -> dict:
        out = {"height": self.height, "escape_rate": self.escape_rate,
               "state": overlaps_to_config(self.state)}
        out.update(times or {})
        return out


def _symmetric(problem: CommitteeMachine, x: Array) -> Overlaps:
    """The student-permutation-symmetric state with Q_kk = x0, Q_kl = x1, R_km = x[2 + m] and,
    if the second layer is trained, v_k = x[2 + M] (else the fixed, uniform v)."""
    K, M = problem.K, problem.M
    Q = x[1] * jnp.ones((K, K), x.dtype) + (x[0] - x[1]) * jnp.eye(K, dtype=x.dtype)
    R = jnp.broadcast_to(x[2:2 + M][None, :], (K, M))
    v = jnp.full((K,), x[2 + M]) if problem.train_second_layer else problem.second_layer.astype(x.dtype)
    return Overlaps(Q, R, v)


def _symmetric_coords(problem: CommitteeMachine, state: Overlaps) -> Array:
    K = problem.K
    off = (jnp.sum(state.Q) - jnp.trace(state.Q)) / (K * (K - 1))
    parts = [jnp.stack([jnp.mean(jnp.diag(state.Q)), off]), jnp.mean(state.R, axis=0)]
    if problem.train_second_layer:
        parts.append(jnp.mean(state.v)[None])
    return jnp.concatenate(parts)


def _symmetric_field(problem, optimizer, gradient_flow):
    field = vector_field(problem, optimizer, gradient_flow)
    M = problem.M

    def reduced(t, x, args):
        dy = field(t, _symmetric(problem, x), args)
        parts = [jnp.stack([dy.Q[0, 0], dy.Q[0, 1]]), dy.R[0, :M]]
        if problem.train_second_layer:
            parts.append(dy.v[:1])
        return jnp.concatenate(parts)

    return reduced


def _unique_coords(problem):
    """Flatten a state to its independent entries (Q's upper triangle, R, and v if trained)."""
    K, M = problem.K, problem.M
    iu = np.triu_indices(K)
    nq = len(iu[0])

    def flatten(state):
        parts = [state.Q[iu], state.R.ravel()]
        return jnp.concatenate(parts + [state.v] if problem.train_second_layer else parts)

    def unflatten(z):
        upper = jnp.zeros((K, K), z.dtype).at[iu].set(z[:nq])
        Q = upper + upper.T - jnp.diag(jnp.diag(upper))
        R = z[nq:nq + K * M].reshape(K, M)
        v = z[nq + K * M:] if problem.train_second_layer else problem.second_layer.astype(z.dtype)
        return Overlaps(Q, R, v)

    return flatten, unflatten


# A symmetric fixed point not approached within these (a real plateau takes ~500 steps) is
# no plateau of interest; the bound keeps the search cheap when there is none.
_SETTLE_T, _SETTLE_STEPS = 1e4, 2000


@eqx.filter_jit
def _plateau_solve(problem, optimizer, init, gradient_flow):
    reduced = _symmetric_field(problem, optimizer, gradient_flow)
    x0 = _symmetric_coords(problem, init)
    sol = diffrax.diffeqsolve(diffrax.ODETerm(reduced), t0=0.0, t1=_SETTLE_T, y0=x0,
                              event=diffrax.Event(diffrax.steady_state_event(rtol=1e-6, atol=1e-8)),
                              **solver_kwargs(1e-8, 1e-10, _SETTLE_STEPS))
    settled = sol.result == diffrax.RESULTS.event_occurred
    x1 = sol.ys[-1]
    root = optx.root_find(lambda x, _: reduced(0.0, x, None), optx.Newton(rtol=1e-12, atol=1e-13),
                          x1, throw=False, max_steps=100)
    ok = settled & (root.result == optx.RESULTS.successful) & jnp.all(jnp.isfinite(root.value))
    fixed = _symmetric(problem, root.value)
    flatten, unflatten = _unique_coords(problem)
    field = vector_field(problem, optimizer, gradient_flow)
    jac = jax.jacfwd(lambda z: flatten(field(0.0, unflatten(z), None)))(flatten(fixed))
    return fixed, problem.risk(fixed), jac, ok


def find_plateau(problem: CommitteeMachine, optimizer: SGD, init: Overlaps | None = None, *,
                 gradient_flow: bool = False) -> PlateauPoint | None:
    r"""The symmetric plateau: the fixed point of §2's ODEs in the subspace where all student
    units are alike ($Q_{kk} = q$, $Q_{k\ne l} = c$, $R_{km} = r_m$, $v_k = v$), reached by
    integrating the reduced ODE from the symmetric part of `init` and polished by
    `optimistix.Newton`. It is a plateau if the full Jacobian there has an eigenvalue with
    positive real part (its largest is `escape_rate`): the symmetry-breaking direction along
    which the dynamics escape. None when K = 1, the lr is a schedule, the fixed second layer is
    not uniform, or no unstable symmetric fixed point is found."""
    init = problem.default_init() if init is None else init
    if problem.K < 2 or any(callable(lr) for lr in (optimizer.lr, *optimizer.group_lr.values())):
        return None
    if not problem.train_second_layer and not np.allclose(np.asarray(problem.second_layer),
                                                          float(problem.second_layer[0])):
        return None
    fixed, height, jac, ok = _plateau_solve(problem, optimizer, init, bool(gradient_flow))
    if not bool(ok):
        return None
    rate = float(np.max(np.linalg.eigvals(np.asarray(jac)).real))
    if not rate > 1e-9:
        return None
    return PlateauPoint(jax.tree.map(np.asarray, fixed), float(height), rate)


@eqx.filter_jit
def _dense_solve(problem, optimizer, init, t_end, gradient_flow, rtol, atol, max_steps):
    field = vector_field(problem, optimizer, gradient_flow)
    return diffrax.diffeqsolve(diffrax.ODETerm(field), t0=0.0, t1=t_end, y0=init,
                               saveat=diffrax.SaveAt(dense=True),
                               **solver_kwargs(rtol, atol, max_steps))


@eqx.filter_jit
def _risk_along(problem, sol, ts):
    return jax.vmap(lambda t: problem.risk(sol.evaluate(t)))(ts)


@eqx.filter_jit
def _crossing_time(problem, sol, level, lower, upper):
    root = optx.root_find(lambda t, _: problem.risk(sol.evaluate(t)) - level,
                          optx.Bisection(rtol=1e-10, atol=1e-10), 0.5 * (lower + upper),
                          options={"lower": lower, "upper": upper}, throw=False)
    return root.value


def plateau_times(problem: CommitteeMachine, optimizer: SGD, init: Overlaps, point: PlateauPoint,
                  t_end: float, *, tol: float = 0.05, gradient_flow: bool = False,
                  rtol: float = 1e-8, atol: float = 1e-10, max_steps: int = 100_000) -> dict:
    """When the trajectory from `init` enters the plateau (risk first within `tol` of its
    height h), escapes it (risk first below (1 - tol) h afterwards), and the length between.
    Crossings are bracketed on a grid of the dense solution and refined with
    `optimistix.Bisection`; None where a crossing does not happen before `t_end`."""
    sol = _dense_solve(problem, optimizer, init, jnp.asarray(t_end, dtype=float), bool(gradient_flow),
                       rtol, atol, max_steps)
    grid = np.linspace(0.0, t_end, 2001)
    risk = np.asarray(_risk_along(problem, sol, jnp.asarray(grid)))
    h = point.height

    def crossing(level, start):
        above = risk[start:] > level
        flips = np.flatnonzero(above[:-1] != above[1:])
        if flips.size == 0:
            return None, None
        i = start + int(flips[0])
        value = _crossing_time(problem, sol, jnp.asarray(level), jnp.asarray(grid[i]),
                               jnp.asarray(grid[i + 1]))
        return float(value), i + 1

    if abs(risk[0] - h) <= tol * h:
        t_enter, start = 0.0, 0
    else:
        t_enter, start = crossing((1 + tol) * h if risk[0] > h else (1 - tol) * h, 0)
    t_escape = None if t_enter is None else crossing((1 - tol) * h, start)[0]
    length = None if t_enter is None or t_escape is None else t_escape - t_enter
    return {"t_enter": t_enter, "t_escape": t_escape, "length": length, "tol": tol}
