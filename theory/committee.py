r"""Two-layer teacher–student networks (soft committee machines) under online SGD.

Teacher $y = \sum_{m=1}^M v^*_m g(\nu_m) + \sigma\xi$, $\nu_m = w^*_m\cdot x/\sqrt d$; student
$f = \sum_{k=1}^K v_k g(\lambda_k)$, $\lambda_k = w_k\cdot x/\sqrt d$; $x \sim N(0, I_d)$; loss
$\tfrac12(f - y)^2$. Order parameters $Q = WW^\top/d$, $R = WW^{*\top}/d$, $T = W^*W^{*\top}/d$
(fixed) and $v$. docs/theory.md, Committee machines; Saad & Solla, PRE 52:4225 (1995); Goldt,
Advani, Saxe, Krzakala, Zdeborová, arXiv 1906.08632 (2019).

**Learning-rate scaling.** `SGD(lr=η, batch=B, momentum=β)` takes, with $\Delta_b = f(x_b) -
y_b$ and the mean over the batch,
$w_k \leftarrow w_k - \frac{\eta}{\sqrt d}\, v_k\, \overline{g'(\lambda_k)\Delta\, x}$ and (when the
second layer is trained) $v_k \leftarrow v_k - \frac{\eta_v}{d}\,\overline{g(\lambda_k)\Delta}$,
i.e. η (resp. $\eta_v/d$) times the gradient of the loss in $w$ (resp. $v$); both are O(1) and
time is $t = kB/d$. The parameter groups are "first_layer" and "second_layer"; the second
layer's rate $\eta_v$ is the optimizer's `group_lr["second_layer"]` (default: `lr`). One
step moves $R$ by $-(\eta/d) v_k E[g'\nu\Delta]$ and $Q$ by the same drift plus
$(\eta^2/(Bd))\,v_kv_l E[g'g'\Delta^2]$ (only the B diagonal terms of the double sum over the
batch are $O(1/d)$), so per unit t the drift scales as $\eta/B$ and the $\eta^2$ term as
$\eta^2/B^2$. Heavy-ball momentum β averages over $O(1/(1-\beta))$ steps, much less than the
$O(d)$ steps of a unit of t, so in the high-d limit it acts as the step $\eta/(1-\beta)$ on
both layers, in the drift and the noise alike (as for least squares).

The ODEs live in `theory._committee_ode`, the plateau analysis in `theory._committee_plateau`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _committee_noise
from ._activations import AbstractActivation, make_activation
from ._committee_ode import (Overlaps, norm_limit, observed_risk, overlaps_to_config,
                             vector_field)
from ._committee_plateau import PlateauPoint, find_plateau, plateau_times
from ._family import ODE, AbstractProblem, BenchCase, Observation
from ._theories import register_theory
from .checks import check_memory, check_range, check_vector, is_concrete
from .fields import (Boolean, ConfigError, Integer, Integers, Matrix, Nested, Number, Numbers,
                     String, Table)
from .optim import SGD

DEFAULT_INIT_D = 1000
"""The dimension at which the theory's default initial overlaps are drawn (key 0)."""


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


def _activation_name(activation) -> str:
    return activation if isinstance(activation, str) else make_activation(activation).name


class CommitteeMachine(AbstractProblem):
    r"""A student of K hidden units learning a teacher of M units (docs/theory.md, Committee
    machines).

    **Arguments:**

    - `K`, `M`: student and teacher hidden units, integers >= 1.
    - `activation`: "erf" ($\mathrm{erf}(x/\sqrt2)$, closed forms), "relu", "linear",
      "tanh", "quadratic", or an elementwise, twice-differentiable callable (Gauss–Hermite).
    - `teacher_second_layer`: $v^*$, shape (M,); default ones.
    - `second_layer`: the student's $v$, shape (K,), fixed or (if trained) initial; default ones.
    - `train_second_layer`: train $v$ with step $\eta_v/d$, $\eta_v$ the optimizer's rate of
      the "second_layer" group (see the module docstring).
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
    methods = {"limit": "ode"}
    theory_options = {"gradient_flow": False, "plateau": False, "plateau_tol": 0.05}
    ode_tolerances = (1e-8, 1e-10, 100_000)
    config_fields = {"K": Integer(), "M": Integer(), "activation": String(name=_activation_name),
                     "teacher_second_layer": Numbers(), "train_second_layer": Boolean(),
                     "noise": Number(), "T": Matrix(), "second_layer": Numbers(),
                     "init_scale": Number(), "init": Nested(Overlaps),
                     "quadrature": Integers(2, what="integers [n_I2, n_I4]")}
    retired_fields = {"lr_second": "the second layer's rate is an optimizer setting: "
                                   "[optimizer] group_lr = { second_layer = ... }"}
    K: int = eqx.field(static=True)
    M: int = eqx.field(static=True)
    activation: str | Callable = eqx.field(static=True)
    teacher_second_layer: Array
    second_layer: Array
    train_second_layer: bool = eqx.field(static=True)
    noise: Array
    T: Array
    init_scale: Array
    init: Overlaps | None
    quadrature: tuple[int, int] | None = eqx.field(static=True)

    def __init__(self, K, M, activation="erf", teacher_second_layer=None, train_second_layer=False,
                 noise=0.0, T=None, *, second_layer=None, init_scale=0.1,
                 init=None, quadrature=None):
        for name, value in (("K", K), ("M", M)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"CommitteeMachine.{name} must be an integer >= 1 (got {value!r})")
        # the ODE state holds (K + M)^2 overlaps, the quadratures K^2-size tables
        check_memory("CommitteeMachine.K, M", 512.0 * (K + M) ** 2, f"K = {K}, M = {M}")
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
        r"""$\tfrac12 E[(f - f^*)^2] = \tfrac12 u^\top I_2 u$ (docs/theory.md), for one state
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

    # ---------------------------------------------------------------- theory

    def initial_state(self, init=None) -> Overlaps:
        """`init` (an `Overlaps` or a table with Q, R, v; e.g. a simulation's measured
        overlaps), or `default_init()`."""
        if init is None:
            return self.default_init()
        init = _as_overlaps(init, "init")
        check_overlaps(self, init, "init")
        return init

    def metadata(self) -> dict:
        return {"init": "problem.init" if self.init is not None
                else f"random (d={DEFAULT_INIT_D}, key 0)"}

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise**2)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("first_layer", "second_layer") if self.train_second_layer else ("first_layer",)

    def analyse(self, optimizer: SGD, state: Overlaps, t_end: float, ode: dict, *,
                gradient_flow: bool, plateau: bool, plateau_tol: float) -> dict:
        """With `plateau`: the symmetric plateau (`find_plateau`) and when the trajectory
        enters and leaves it (`plateau_times`), as metadata["plateau"]."""
        if not plateau or callable(optimizer.lr):
            return {}
        point = find_plateau(self, optimizer, state, gradient_flow=gradient_flow)
        if point is None:
            return {"plateau": None}
        times = plateau_times(self, optimizer, state, point, t_end, tol=plateau_tol,
                              gradient_flow=gradient_flow, rtol=ode["rtol"], atol=ode["atol"],
                              max_steps=ode["max_steps"])
        return {"plateau": point.to_dict(times)}

    @classmethod
    def bench_case(cls, quick: bool = False) -> BenchCase:
        """K = M = 2 erf, η = 0.5, the plateau example's start: t ∈ [0, 100] against 32
        networks at d = 1000 (quick: t = 20, d = 200, 8 seeds), and at d = 1e4 (a hundredth
        of the horizon, extrapolated); the sweep over η ∈ [0.05, 1.5]."""
        d, seeds, t_end, big_d, points = (200, 8, 20.0, 2000, 100) if quick else \
            (1000, 32, 100.0, 10_000, 1000)
        init = Overlaps(jnp.array([[0.0105, -0.0003], [-0.0003, 0.0099]]),
                        jnp.array([[0.0059, -0.0015], [0.0013, 0.0075]]), jnp.ones(2))
        horizon = {"t": t_end, "num_points": 200}
        return BenchCase(cls(2, 2, "erf", init=init), SGD(0.5), horizon, {"d": d, "seeds": seeds},
                         "lr", jnp.linspace(0.05, 1.5, points), horizon, big_d,
                         {"plateau": False})

    def describe(self) -> str:
        name = self.activation if isinstance(self.activation, str) else self.act.name
        layer = "trained v" if self.train_second_layer else "fixed v"
        return f"committee K={self.K}, M={self.M}, {name}, {layer}, σ={float(self.noise):g}"

    def increment_covariance(self, optimizer: SGD, state: Overlaps, t) -> Array:
        """D of the linear-noise expansion (`theory.fluctuations`; `_committee_noise`)."""
        return _committee_noise.increment_covariance(self, optimizer, state, t)

    def initial_covariance(self, state: Overlaps) -> Array:
        """d·Cov of (Q, R, v) at a random start (`_committee_noise`)."""
        return _committee_noise.initial_covariance(self, state)


@register_theory(CommitteeMachine, SGD)
def sgd_theory(problem: CommitteeMachine, optimizer: SGD, state: Overlaps, method: str, *,
               gradient_flow: bool, plateau: bool, plateau_tol: float) -> ODE:
    """The ODEs of `theory._committee_ode.vector_field` (`gradient_flow` drops the η² terms);
    a run whose norms exceed `norm_limit` is diverged too."""
    check_range("plateau_tol", plateau_tol, low=0.0, high=1.0, low_open=True, high_open=True)
    q_limit = norm_limit(problem, state)
    observe = lambda y: Observation(observed_risk(problem, y, q_limit), {}, y)
    return ODE(state, vector_field(problem, optimizer, bool(gradient_flow)), observe,
               problem.divergence_floor(),
               "population gradient flow" if gradient_flow else "high-d ODE")


def overlaps_from_config(table: Table) -> Overlaps:
    """The `init` table of a committee config as float `Overlaps` (Q, R, v)."""
    state = Overlaps.from_config(table)
    return Overlaps(*(jnp.asarray(x, dtype=float) for x in (state.Q, state.R, state.v)))


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
    `problem.second_layer`. This is the law of `simulate.committee.measure_overlaps` at t = 0.
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
    R = sigma * g @ psd_sqrt(problem.T) / math.sqrt(d)
    Q = sigma**2 * (g @ g.T + a @ a.T) / d
    return Overlaps(Q, R, problem.second_layer)


@jax.custom_jvp
def psd_sqrt(matrix: Array) -> Array:
    """The symmetric PSD square root S, S S = matrix: a factor of the matrix that, unlike
    `sqrt_factor`, is a smooth function of it where it is positive definite — also at
    repeated eigenvalues (T = I), where eigh's own derivative is NaN."""
    lam, vec = jnp.linalg.eigh(matrix)
    return (vec * jnp.sqrt(jnp.maximum(lam, 0.0))[None, :]) @ vec.T


@psd_sqrt.defjvp
def _psd_sqrt_jvp(primals, tangents):
    # S dS + dS S = dM in the eigenbasis: dS_ij = (Vᵀ dM V)_ij / (√λ_i + √λ_j)
    (matrix,), (dm,) = primals, tangents
    lam, vec = jnp.linalg.eigh(matrix)
    root = jnp.sqrt(jnp.maximum(lam, 0.0))
    denom = root[:, None] + root[None, :]
    inner = vec.T @ (0.5 * (dm + dm.T)) @ vec
    ds = jnp.where(denom > 0, inner / jnp.where(denom > 0, denom, 1.0), 0.0)
    return (vec * root[None, :]) @ vec.T, vec @ ds @ vec.T


def sqrt_factor(matrix: Array) -> Array:
    """F with F Fᵀ = matrix (symmetric PSD, maybe singular), from its eigendecomposition."""
    lam, vec = jnp.linalg.eigh(matrix)
    return vec * jnp.sqrt(jnp.maximum(lam, 0.0))[None, :]


__all__ = ["CommitteeMachine", "Overlaps", "random_init", "vector_field", "find_plateau",
           "plateau_times", "PlateauPoint", "check_overlaps", "observed_risk", "norm_limit",
           "sqrt_factor", "psd_sqrt", "overlaps_to_config", "DEFAULT_INIT_D"]
