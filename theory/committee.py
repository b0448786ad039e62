r"""Two-layer teacher–student networks (soft committee machines) under online SGD.

Teacher $y = \sum_{m=1}^M v^*_m g(\nu_m) + \sigma\xi$, $\nu_m = w^*_m\cdot x/\sqrt d$; student
$f = \sum_{k=1}^K v_k g(\lambda_k)$, $\lambda_k = w_k\cdot x/\sqrt d$; $x \sim N(0, I_d)$; loss
$\tfrac12(f - y)^2$. Order parameters $Q = WW^\top/d$, $R = WW^{*\top}/d$, $T = W^*W^{*\top}/d$
(fixed) and $v$. THEORY.md §2–3; Saad & Solla, PRE 52:4225 (1995); Goldt, Advani, Saxe,
Krzakala, Zdeborová, arXiv 1906.08632 (2019).

**Learning-rate scaling.** `SGD(lr=η, batch=B, momentum=β)` takes, with $\Delta_b = f(x_b) -
y_b$ and the mean over the batch,
$w_k \leftarrow w_k - \frac{\eta}{\sqrt d}\, v_k\, \overline{g'(\lambda_k)\Delta\, x}$ and (when the
second layer is trained) $v_k \leftarrow v_k - \frac{\eta_v}{d}\,\overline{g(\lambda_k)\Delta}$,
i.e. η (resp. $\eta_v/d$) times the gradient of the loss in $w$ (resp. $v$); both are O(1) and
time is $t = kB/d$. One step moves $R$ by $-(\eta/d) v_k E[g'\nu\Delta]$ and $Q$ by the
same drift plus $(\eta^2/(Bd))\,v_kv_l E[g'g'\Delta^2]$ (only the B diagonal terms of the
double sum over the batch are $O(1/d)$), so per unit t the drift scales as $\eta/B$ and the
$\eta^2$ term as $\eta^2/B^2$. Heavy-ball momentum β averages over $O(1/(1-\beta))$ steps,
much less than the $O(d)$ steps of a unit of t, so in the high-d limit it acts as the step
$\eta/(1-\beta)$ on both layers, in the drift and the noise alike (as in `theory.linreg`).

**Where `lr_second` lives.** It is a field of `CommitteeMachine`: the second layer's step
$\eta_v$ is part of this family's parametrisation (its $1/d$ scaling is what makes $v$
deterministic), while `SGD` is shared by all families. `None` means $\eta_v = \eta(t)$, the
first layer's rate (schedule included); a number fixes $\eta_v$. Momentum and batch act on it
as on η.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from ._activations import AbstractActivation, make_activation
from ._checks import check_range, check_vector, is_concrete
from ._config import ConfigError, Table
from ._curve import Curve
from ._predict import Horizon, predict_family
from ._problem import AbstractProblem
from ._record import divergence_threshold, record_times
from .optim import SGD

DEFAULT_INIT_D = 1000
"""The dimension at which the theory's default initial overlaps are drawn (key 0)."""


class Overlaps(eqx.Module):
    r"""The order parameters: $Q_{kl} = w_k\cdot w_l/d$ (K, K), $R_{km} = w_k\cdot w^*_m/d$
    (K, M) and the student's second layer $v$ (K,). Leading axes (time, seeds) allowed."""

    Q: Array
    R: Array
    v: Array


def _as_float_array(x) -> Array:
    return jnp.asarray(x, dtype=float)


def _psd_problem(name: str, matrix: np.ndarray) -> str | None:
    """Why `matrix` is not symmetric PSD (None if it is)."""
    if not np.allclose(matrix, matrix.T, rtol=1e-10, atol=1e-12):
        return f"{name} must be symmetric"
    low = float(np.linalg.eigvalsh(0.5 * (matrix + matrix.T)).min())
    scale = max(float(np.abs(matrix).max()), 1.0)
    if low < -1e-10 * scale:
        return f"{name} must be positive semi-definite (min eigenvalue {low:.3g})"
    return None


class CommitteeMachine(AbstractProblem):
    r"""A student of K hidden units learning a teacher of M units (THEORY.md §2).

    **Arguments:**

    - `K`, `M`: student and teacher hidden units, integers >= 1.
    - `activation`: "erf" ($\mathrm{erf}(x/\sqrt2)$, closed forms), "relu", "linear",
      "tanh", "quadratic", or an elementwise, twice-differentiable callable (Gauss–Hermite).
    - `teacher_second_layer`: $v^*$, shape (M,); default ones.
    - `second_layer`: the student's $v$, shape (K,), fixed or (if trained) initial; default ones.
    - `train_second_layer`: train $v$ with step $\eta_v/d$ (see the module docstring).
    - `lr_second`: $\eta_v > 0$, or None for the first layer's lr.
    - `noise`: label-noise standard deviation $\sigma \ge 0$ (risk excludes it).
    - `T`: teacher overlaps $w^*_m\cdot w^*_n/d$, (M, M) symmetric PSD with a positive
      diagonal; default identity. Simulations draw teachers with exactly this T.
    - `init_scale`: $\sigma_0 > 0$ (default 0.1, a small initialisation); a random
      initialisation draws $w_k \sim N(0, \sigma_0^2 I_d)$, so $Q \approx \sigma_0^2 I$.
    - `init`: initial `Overlaps` (Q, R, v) shared by theory and simulation (every simulated
      seed then starts exactly there), or None for a random initialisation: simulations draw
      each seed's own, the theory starts from `random_init(problem, key(0), d=1000)`.
    - `quadrature`: Gauss–Hermite nodes per axis (for I2, for I4) of activations without
      closed forms; None for the activation's default.
    """

    family = "committee"
    K: int = eqx.field(static=True)
    M: int = eqx.field(static=True)
    activation: str | Callable = eqx.field(static=True)
    teacher_second_layer: Array
    second_layer: Array
    train_second_layer: bool = eqx.field(static=True)
    lr_second: Array | None
    noise: Array
    T: Array
    init_scale: Array
    init: Overlaps | None
    quadrature: tuple[int, int] | None = eqx.field(static=True)

    def __init__(self, K, M, activation="erf", teacher_second_layer=None, train_second_layer=False,
                 noise=0.0, T=None, *, second_layer=None, lr_second=None, init_scale=0.1,
                 init=None, quadrature=None):
        for name, value in (("K", K), ("M", M)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CommitteeMachine.{name} must be an integer >= 1 (got {value!r})")
        if quadrature is not None:
            quadrature = tuple(quadrature)
            if len(quadrature) != 2 or any(isinstance(n, bool) or not isinstance(n, (int, np.integer))
                                           or n < 1 for n in quadrature):
                raise ValueError("CommitteeMachine.quadrature must be two integers >= 1 "
                                 f"(nodes per axis for I2, I4; got {quadrature!r})")
            quadrature = (int(quadrature[0]), int(quadrature[1]))
        make_activation(activation, quadrature, field="CommitteeMachine.activation")
        if not isinstance(train_second_layer, (bool, np.bool_)):
            raise ValueError("CommitteeMachine.train_second_layer must be true or false "
                             f"(got {train_second_layer!r})")
        self.K, self.M = int(K), int(M)
        self.activation = activation
        self.teacher_second_layer = _as_float_array(
            jnp.ones(self.M) if teacher_second_layer is None else teacher_second_layer)
        self.second_layer = _as_float_array(jnp.ones(self.K) if second_layer is None else second_layer)
        self.train_second_layer = bool(train_second_layer)
        self.lr_second = None if lr_second is None else _as_float_array(lr_second)
        self.noise = _as_float_array(noise)
        self.T = _as_float_array(jnp.eye(self.M) if T is None else T)
        self.init_scale = _as_float_array(init_scale)
        self.init = None if init is None else _as_overlaps(init, "CommitteeMachine.init")
        self.quadrature = quadrature

    def __check_init__(self):
        check_vector("CommitteeMachine.teacher_second_layer", self.teacher_second_layer, size=self.M)
        check_vector("CommitteeMachine.second_layer", self.second_layer, size=self.K)
        check_range("CommitteeMachine.noise", self.noise, low=0.0)
        check_range("CommitteeMachine.init_scale", self.init_scale, low=0.0, low_open=True)
        if self.lr_second is not None:
            check_range("CommitteeMachine.lr_second", self.lr_second, low=0.0, low_open=True)
        if is_concrete(self.T):
            t = np.asarray(self.T, dtype=np.float64)
            if t.shape != (self.M, self.M):
                raise ValueError(f"CommitteeMachine.T must have shape ({self.M}, {self.M}) "
                                 f"(got {t.shape})")
            check_range("CommitteeMachine.T", t)
            why = _psd_problem("CommitteeMachine.T", t)
            if why:
                raise ValueError(why)
            if not np.all(np.diag(t) > 0):
                raise ValueError("CommitteeMachine.T must have a positive diagonal "
                                 f"(got {np.diag(t).tolist()})")
        if self.init is not None:
            check_overlaps(self, self.init, "CommitteeMachine.init")

    # ---------------------------------------------------------------- helpers

    @property
    def act(self) -> AbstractActivation:
        """The activation with its Gaussian integrals."""
        return make_activation(self.activation, self.quadrature)

    def covariance(self, state: Overlaps, T: Array | None = None) -> Array:
        """The (K+M) × (K+M) covariance of the local fields (λ, ν): [[Q, R], [Rᵀ, T]]
        (T: the problem's, or e.g. one measured on a finite-d teacher)."""
        T = self.T if T is None else T
        top = jnp.concatenate([state.Q, state.R], axis=1)
        bottom = jnp.concatenate([state.R.T, T.astype(state.R.dtype)], axis=1)
        return jnp.concatenate([top, bottom], axis=0)

    def signed_second_layers(self, state: Overlaps) -> Array:
        """u = (v, -v*): Δ = Σ_a u_a g(field_a) over the K + M local fields."""
        return jnp.concatenate([state.v, -self.teacher_second_layer.astype(state.v.dtype)])

    def risk(self, state: Overlaps, T: Array | None = None) -> Array:
        r"""$\tfrac12 E[(f - f^*)^2] = \tfrac12 u^\top I_2 u$ (THEORY.md §2), for one state
        ($I_2$ over all pairs of the K + M local fields; T as for `covariance`)."""
        cov = self.covariance(state, T)
        diag = jnp.diag(cov)
        i2 = self.act.i2(diag[:, None], cov, diag[None, :])
        u = self.signed_second_layers(state)
        return 0.5 * (u @ i2 @ u)

    def default_init(self) -> Overlaps:
        """`init`, or the overlaps of a random initialisation at d = 1000 drawn with key 0."""
        if self.init is not None:
            return self.init
        return random_init(self, jax.random.key(0), DEFAULT_INIT_D)

    def describe(self) -> str:
        name = self.activation if isinstance(self.activation, str) else self.act.name
        layer = "trained v" if self.train_second_layer else "fixed v"
        return f"committee K={self.K}, M={self.M}, {name}, {layer}, σ={float(self.noise):g}"

    # ---------------------------------------------------------------- config

    def to_config(self) -> dict:
        out: dict[str, Any] = {
            "K": self.K, "M": self.M,
            "activation": self.activation if isinstance(self.activation, str) else self.act.name,
            "teacher_second_layer": [float(x) for x in self.teacher_second_layer],
            "second_layer": [float(x) for x in self.second_layer],
            "train_second_layer": self.train_second_layer,
            "noise": float(self.noise),
            "T": np.asarray(self.T, dtype=np.float64).tolist(),
            "init_scale": float(self.init_scale),
        }
        if self.lr_second is not None:
            out["lr_second"] = float(self.lr_second)
        if self.init is not None:
            out["init"] = overlaps_to_config(self.init)
        if self.quadrature is not None:
            out["quadrature"] = list(self.quadrature)
        return out

    @classmethod
    def from_config(cls, table: Table) -> "CommitteeMachine":
        K = table.integer("K")
        M = table.integer("M")
        activation = table.string("activation", None, "erf")
        v_star = table.numbers("teacher_second_layer", None)
        v = table.numbers("second_layer", None)
        train = table.raw("train_second_layer", False)
        if not isinstance(train, bool):
            table.fail("train_second_layer", f"expected true or false (got {train!r})")
        lr_second = table.number("lr_second", None)
        noise = table.number("noise", 0.0)
        T = _matrix(table, "T") if table.has("T") else None
        init_scale = table.number("init_scale", 0.1)
        init = overlaps_from_config(table.table("init")) if table.has("init") else None
        quadrature = None
        if table.has("quadrature"):
            raw = table.raw("quadrature")
            if not (isinstance(raw, list) and len(raw) == 2 and all(isinstance(n, int) for n in raw)):
                table.fail("quadrature", f"expected two integers [n_I2, n_I4] (got {raw!r})")
            quadrature = tuple(raw)
        table.finish()
        return cls(K, M, activation, v_star, train, noise, T, second_layer=v, lr_second=lr_second,
                   init_scale=init_scale, init=init, quadrature=quadrature)


def _matrix(table: Table, key: str) -> list[list[float]]:
    raw = table.raw(key)
    rows_ok = isinstance(raw, list) and raw and all(isinstance(row, list) for row in raw)
    if not rows_ok or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                              for row in raw for x in row) or len({len(row) for row in raw}) != 1:
        table.fail(key, f"expected a matrix, a list of equally long rows of numbers (got {raw!r})")
    if not all(math.isfinite(x) for row in raw for x in row):
        table.fail(key, "must be finite")
    return [[float(x) for x in row] for row in raw]


def overlaps_to_config(state: Overlaps) -> dict:
    return {"Q": np.asarray(state.Q, dtype=np.float64).tolist(),
            "R": np.asarray(state.R, dtype=np.float64).tolist(),
            "v": np.asarray(state.v, dtype=np.float64).tolist()}


def overlaps_from_config(table: Table) -> Overlaps:
    state = Overlaps(jnp.asarray(_matrix(table, "Q"), dtype=float),
                     jnp.asarray(_matrix(table, "R"), dtype=float),
                     jnp.asarray(table.numbers("v"), dtype=float))
    table.finish()
    return state


def _as_overlaps(value, name: str) -> Overlaps:
    if isinstance(value, Overlaps):
        return Overlaps(*(jnp.asarray(x, dtype=float) for x in (value.Q, value.R, value.v)))
    if isinstance(value, Mapping):
        try:
            return overlaps_from_config(Table(dict(value), name))
        except ConfigError as err:
            raise ValueError(str(err)) from None
    raise ValueError(f"{name} must be an Overlaps(Q, R, v) or a table with Q, R, v "
                     f"(got {type(value).__name__})")


def check_overlaps(problem: CommitteeMachine, state: Overlaps, name: str) -> None:
    """Shapes, and (for concrete values) that [[Q, R], [Rᵀ, T]] is a covariance."""
    K, M = problem.K, problem.M
    for field, want in (("Q", (K, K)), ("R", (K, M)), ("v", (K,))):
        got = jnp.shape(getattr(state, field))
        if got != want:
            raise ValueError(f"{name}.{field} must have shape {want} (got {got})")
    if not all(is_concrete(x) for x in (state.Q, state.R, state.v, problem.T)):
        return
    for field in ("Q", "R", "v"):
        check_range(f"{name}.{field}", getattr(state, field))
    why = _psd_problem(f"{name}: [[Q, R], [Rᵀ, T]]",
                       np.asarray(problem.covariance(state), dtype=np.float64))
    if why:
        raise ValueError(why)
    if isinstance(problem.act.name, str) and problem.act.name == "relu" and \
            not np.all(np.diag(np.asarray(state.Q)) > 0):
        raise ValueError(f"{name}.Q must have a positive diagonal for relu (a unit with "
                         "zero weights gets no gradient)")


def random_init(problem: CommitteeMachine, key, d: int) -> Overlaps:
    r"""Overlaps of a random initialisation at dimension d, drawn from their exact law.

    With $w_k \sim N(0, \sigma_0^2 I_d)$ and a teacher with overlaps exactly T, write $w_k$ in
    an orthonormal basis whose first M vectors span the teacher: $R = \sigma_0 G L^\top/\sqrt d$
    ($LL^\top = T$, $G$ a K × M standard Gaussian) and $Q = \sigma_0^2(GG^\top + A A^\top)/d$,
    $AA^\top \sim \mathrm{Wishart}(I_K, d - M)$ by Bartlett's decomposition; v is
    `problem.second_layer`. This is the law of `simulate.measure_overlaps` at t = 0.
    """
    K, M = problem.K, problem.M
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < K + M:
        raise ValueError(f"d must be an integer >= K + M = {K + M} (got {d!r})")
    k_g, k_chi, k_low = jax.random.split(key, 3)
    dtype = problem.T.dtype
    g = jax.random.normal(k_g, (K, M), dtype)
    dof = d - M - jnp.arange(K, dtype=dtype)
    diag = jnp.sqrt(jax.random.chisquare(k_chi, dof, (K,), dtype))
    lower = jnp.tril(jax.random.normal(k_low, (K, K), dtype), -1)
    a = lower + jnp.diag(diag)
    sigma = problem.init_scale.astype(dtype)
    R = sigma * g @ sqrt_factor(problem.T).T / math.sqrt(d)
    Q = sigma**2 * (g @ g.T + a @ a.T) / d
    return Overlaps(Q, R, problem.second_layer)


def sqrt_factor(matrix: Array) -> Array:
    """F with F Fᵀ = matrix (symmetric PSD, maybe singular), from its eigendecomposition."""
    lam, vec = jnp.linalg.eigh(matrix)
    return vec * jnp.sqrt(jnp.maximum(lam, 0.0))[None, :]


# -------------------------------------------------------------------- the ODEs of §2


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
    r"""The right-hand side $(dQ/dt, dR/dt, dv/dt)$ of THEORY.md §2 as `f(t, state, args)`.

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
        eta = optimizer.lr_at(t).astype(dtype) / (1.0 - beta) / batch
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
            eta_v = eta if problem.lr_second is None else problem.lr_second.astype(dtype) / (1.0 - beta) / batch
            dv = -eta_v * (i2 @ u)
        else:
            dv = jnp.zeros_like(v)
        return Overlaps(dQ, dR, dv)

    return field


def divergence_limits(problem: CommitteeMachine, init: Overlaps) -> tuple[Array, Array]:
    """Thresholds on the risk and on max_k Q_kk: bounded activations (erf) saturate instead of
    letting the risk blow up, so a run whose weights grow without bound is diverged too."""
    risk0 = problem.risk(init)
    noise_var = problem.noise**2
    return (divergence_threshold(risk0, jnp.maximum(1.0, noise_var)),
            divergence_threshold(jnp.max(jnp.diag(init.Q)), jnp.maximum(1.0, jnp.max(jnp.diag(problem.T)))))


def observed_risk(problem: CommitteeMachine, state: Overlaps, q_limit: Array,
                  T: Array | None = None) -> Array:
    """The risk, or inf once the student's norms exceed `q_limit` or turn non-finite."""
    risk = problem.risk(state, T)
    big = jnp.max(jnp.diag(state.Q)) > q_limit
    return jnp.where(big | ~jnp.isfinite(risk), jnp.inf, risk)


def _solver_kwargs(rtol, atol, max_steps):
    return dict(solver=diffrax.Tsit5(), dt0=None, max_steps=max_steps, throw=False,
                stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol))


@eqx.filter_jit
def _solve(problem, optimizer, times, init, gradient_flow, rtol, atol, max_steps, save_state):
    field = vector_field(problem, optimizer, gradient_flow)
    risk_limit, q_limit = divergence_limits(problem, init)

    def blew_up(t, y, args, **kwargs):
        return ~(observed_risk(problem, y, q_limit) <= risk_limit)

    sol = diffrax.diffeqsolve(diffrax.ODETerm(field), t0=0.0, t1=times[-1], y0=init,
                              saveat=diffrax.SaveAt(ts=times), event=diffrax.Event(blew_up),
                              **_solver_kwargs(rtol, atol, max_steps))
    ok = (sol.result == diffrax.RESULTS.successful) | (sol.result == diffrax.RESULTS.event_occurred)
    ys = eqx.error_if(sol.ys, ~ok, "committee ODE solver failed (raise max_steps, or loosen rtol/atol)")
    risk = jax.vmap(lambda y: observed_risk(problem, y, q_limit))(ys)
    bad = ~(risk <= risk_limit)
    diverged = jnp.any(bad)
    after = jnp.cumsum(bad) > 0
    risk = jnp.where(after, jnp.inf, risk)
    state = None
    if save_state:
        state = jax.tree.map(lambda x: jnp.where(jnp.isfinite(x), x, 0.0), ys)
    return risk, state, diverged


@predict_family.register
def _predict_committee(problem: CommitteeMachine, optimizer, horizon: Horizon, *,
                       init: Overlaps | Mapping | None = None, gradient_flow: bool = False,
                       rtol: float = 1e-8, atol: float = 1e-10, max_steps: int = 100_000,
                       save_state: bool = True, plateau: bool = True,
                       plateau_tol: float = 0.05) -> Curve:
    """Options: `init` the initial `Overlaps` (default `problem.default_init()`; pass the
    overlaps measured from a simulation to start where it starts); `gradient_flow` drops the
    η² terms (population gradient flow); `rtol`, `atol`, `max_steps` of the adaptive Tsit5
    solver; `save_state` records the overlaps; `plateau` adds `find_plateau` and
    `plateau_times(..., tol=plateau_tol)` to the metadata (concrete inputs only).

    The theory has no d: it takes `t=` (samples/d) only, `Curve.step` is -1 at every point,
    `metadata["d"]` is None, and a divergence shows as `diverged` with inf risk from the first
    recorded time after it (`diverged_step` stays -1: there are no steps without d)."""
    if not isinstance(optimizer, SGD):
        raise TypeError(f"the committee machine supports SGD (got {type(optimizer).__name__})")
    if horizon.steps is not None:
        raise ValueError("the committee theory has no d, so no step count: give t= "
                         "(samples/d) instead of steps=")
    if init is None:
        init, source = problem.default_init(), ("problem.init" if problem.init is not None
                                                else f"random (d={DEFAULT_INIT_D}, key 0)")
    else:
        init, source = _as_overlaps(init, "init"), "given"
        check_overlaps(problem, init, "init")
    check_range("plateau_tol", plateau_tol, low=0.0, high=1.0, low_open=True, high_open=True)
    times = record_times(horizon.t, horizon.num_points, horizon.spacing)
    risk, state, diverged = _solve(problem, optimizer, jnp.asarray(times), init, bool(gradient_flow),
                                   rtol, atol, max_steps, save_state)
    metadata = {"family": "committee", "method": "gradient flow" if gradient_flow else "ode",
                "d": None, "init": source}
    if plateau and _all_concrete(problem, optimizer, init) and not callable(optimizer.lr):
        point = find_plateau(problem, optimizer, init, gradient_flow=gradient_flow)
        metadata["plateau"] = None if point is None else point.to_dict(
            plateau_times(problem, optimizer, init, point, horizon.t, tol=plateau_tol,
                          gradient_flow=gradient_flow, rtol=rtol, atol=atol, max_steps=max_steps))
    n = len(times)
    return Curve(step=-jnp.ones(n, dtype=int), t=jnp.asarray(times), risk=risk, state=state,
                 diverged=diverged, diverged_step=jnp.asarray(-1), problem=problem,
                 optimizer=optimizer, metadata=metadata)


def _all_concrete(*trees) -> bool:
    return all(is_concrete(x) for x in jax.tree.leaves(eqx.filter(trees, eqx.is_array)))


# -------------------------------------------------------------------- the plateau


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
                              **_solver_kwargs(1e-8, 1e-10, _SETTLE_STEPS))
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
    if problem.K < 2 or callable(optimizer.lr):
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
                               **_solver_kwargs(rtol, atol, max_steps))


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


__all__ = ["CommitteeMachine", "Overlaps", "random_init", "vector_field", "find_plateau",
           "plateau_times", "PlateauPoint", "check_overlaps", "observed_risk", "divergence_limits",
           "sqrt_factor", "DEFAULT_INIT_D"]
