r"""Single-index models (GLMs) on anisotropic Gaussian inputs: the per-eigenvalue ODEs.

Inputs $x = \sqrt\Lambda z$, $z \sim N(0, I_d)$, in the eigenbasis of their covariance
$\Lambda = \mathrm{diag}(\lambda_i)$ (`spectrum`); teacher $y = g(\lambda^*) + \sigma\xi$,
$\lambda^* = w^*\cdot x/\sqrt d$ with $w^* = \sqrt d\,\theta^*$, $\sum_i\lambda_i\theta_i^{*2} = 1$;
student $\sigma_s(\lambda)$, $\lambda = w\cdot x/\sqrt d$; the step of `SingleIndex`
(η times the gradient, t = samples/d). docs/theory.md, Anisotropic inputs; Collins-Woodfin,
Paquette, Paquette, Seroussi, arXiv 2308.08977.

Per group g of equal eigenvalues λ_g: $m_g = \sum_{i\in g} w_i w^*_i/d$,
$q_g = \sum_{i\in g} w_i^2/d$, $t_g = \sum_{i\in g} w^{*2}_i/d$; the fields have covariance
$C = [[Q, M], [M, 1]]$, $Q = \sum_g\lambda_g q_g$, $M = \sum_g\lambda_g m_g$. By Gaussian
conditioning $E[\mathcal E x_i] = \frac{\lambda_i}{\sqrt d}(a_1 w_i + a_2 w^*_i)$ with
$(a_1, a_2) = C^{-1}(E[\mathcal E\lambda], E[\mathcal E\lambda^*])$, so with
$\eta' = \eta/(B(1-\beta))$:
$dm_g/dt = \eta'[\lambda_g(a_1 m_g + a_2 t_g) - \kappa m_g]$,
$dq_g/dt = 2\eta'[\lambda_g(a_1 q_g + a_2 m_g) - \kappa q_g] + \eta'^2\lambda_g\frac{n_g}{d}E[\mathcal E^2]$.
With one group of λ = 1 these are `SingleIndex`'s ODEs. The expectations are
`SingleIndex.expectations` at (M, Q).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._family import ODE, AbstractProblem, Observation
from .adaptive import AdaptiveSGD
from ._links import link_name
from ._spectral import checked_spectrum, checked_teacher, group_spectrum
from ._theories import register_theory
from .fields import ConfigError, Configurable, Integer, Number, Numbers, String, Table
from .optim import SGD
from .single_index import DEFAULT_QUADRATURE, LOSSES, SingleIndex, SingleIndexState
from .spectra import Spectrum, Teacher, flat_teacher


GROUP_OBSERVABLES = 4
"""Spectra with at most this many distinct eigenvalues record each group's learned part."""


class GLMState(eqx.Module, Configurable):
    r"""Per distinct eigenvalue: $m_g = \sum_{i\in g}w_iw^*_i/d$, $q_g = \sum_{i\in g}w_i^2/d$
    (last axis: groups, in decreasing eigenvalue)."""

    config_fields = {"m": Numbers(), "q": Numbers()}
    m: Array
    q: Array


def solve2(Q, M, T, e_student, e_teacher):
    r"""$(a_1, a_2) = C^{-1}(E[\mathcal E\lambda], E[\mathcal E\lambda^*])$, $C = [[Q, M], [M, T]]$."""
    det = Q * T - M * M
    return (T * e_student - M * e_teacher) / det, (Q * e_teacher - M * e_student) / det


class GLM(AbstractProblem):
    r"""A single-index teacher and one-neuron student on inputs with covariance spectrum
    `spectrum` (docs/theory.md, Anisotropic inputs).

    **Arguments:**

    - `spectrum`: the eigenvalues λ_i >= 0 of the input covariance (d of them; e.g.
      `spectra.power_law(d, alpha)`); not renormalised (the spectra of `theory.spectra` have
      mean 1, which keeps η's stability range that of isotropic data).
    - `teacher`: θ* in the eigenbasis (d,), with $\sum_i\lambda_i\theta_i^{*2} = 1$; default
      flat (`spectra.flat_teacher`).
    - `link`, `activation`, `loss`, `noise`, `weight_decay`, `quadrature`: as `SingleIndex`.
    - `init_scale`: σ0 > 0 of the random start $w \sim N(0, \sigma_0^2 I_d)$ (each simulated
      seed its own; the theory starts at $m_g = 0$, $q_g = \sigma_0^2 n_g/d$).
    """

    family = "glm"
    methods = {"limit": "ode"}
    ode_tolerances = (1e-8, 1e-10, 200_000)
    observable_labels = SingleIndex.observable_labels
    config_fields = {"spectrum": Spectrum(), "teacher": Teacher(), "link": String(name=link_name),
                     "activation": String(name=link_name), "loss": String(LOSSES),
                     "noise": Number(), "weight_decay": Number(), "init_scale": Number(),
                     "quadrature": Integer()}
    spectrum: Array
    teacher: Array
    link: str = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    loss: str = eqx.field(static=True)
    noise: Array
    weight_decay: Array
    init_scale: Array
    quadrature: int = eqx.field(static=True)
    group_eigs: Array
    group_fraction: Array
    group_teacher: Array
    group_index: Array

    def __init__(self, spectrum, teacher=None, link="relu", activation=None, loss="square",
                 noise=0.0, weight_decay=0.0, init_scale=0.5, quadrature=DEFAULT_QUADRATURE):
        spectrum = checked_spectrum("GLM.spectrum", spectrum)
        teacher = flat_teacher(spectrum) if teacher is None else teacher
        teacher = checked_teacher("GLM.teacher", teacher, spectrum)
        if teacher.shape[0] != 1:
            raise ValueError(f"GLM.teacher must be one direction (got {teacher.shape[0]}; "
                             "several teacher directions are the multi_index family)")
        try:
            base = SingleIndex(link, activation, loss, noise, weight_decay, init_scale=init_scale,
                               quadrature=quadrature)
        except ValueError as err:  # the same fields, named as this family's
            raise ValueError(str(err).replace("SingleIndex.", "GLM.")) from None
        self.link, self.activation, self.loss = base.link, base.activation, base.loss
        self.noise, self.weight_decay, self.init_scale = base.noise, base.weight_decay, base.init_scale
        self.quadrature = base.quadrature
        self.spectrum, self.teacher = jnp.asarray(spectrum), jnp.asarray(teacher[0])
        groups = group_spectrum(spectrum)
        self.group_eigs, self.group_fraction = jnp.asarray(groups.eigs), jnp.asarray(groups.fraction)
        self.group_index = jnp.asarray(groups.index)
        self.group_teacher = jnp.asarray(np.bincount(groups.index, teacher[0] ** 2,
                                                     minlength=groups.eigs.size))

    @property
    def base(self) -> SingleIndex:
        """The isotropic problem whose expectations these are (at the aggregate overlaps)."""
        return SingleIndex(self.link, self.activation, self.loss, self.noise, self.weight_decay,
                           init_scale=self.init_scale, quadrature=self.quadrature)

    @property
    def dimension(self) -> int:
        return int(self.spectrum.shape[0])

    def aggregate(self, state: GLMState) -> SingleIndexState:
        """M = Σ λ_g m_g and Q = Σ λ_g q_g: the fields' overlaps."""
        lam = self.group_eigs.astype(state.m.dtype)
        return SingleIndexState(state.m @ lam, state.q @ lam)

    def observe(self, state: GLMState) -> Observation:
        """`SingleIndex.observe` at the aggregate (M, Q): risk, alignment |M|/√Q, test error;
        with at most `GROUP_OBSERVABLES` distinct eigenvalues also `learned_<g>` = m_g/t_g,
        the part of the teacher's component in group g (1-based, decreasing λ) learned."""
        obs = self.base.observe(self.aggregate(state))
        extras = dict(obs.observables)
        groups = self.group_eigs.shape[0]
        if groups <= GROUP_OBSERVABLES:
            t = self.group_teacher.astype(state.m.dtype)
            safe = jnp.where(t > 0, t, 1.0)
            for g in range(groups):
                extras[f"learned_{g + 1}"] = jnp.where(t[g] > 0, state.m[..., g] / safe[g], 0.0)
        return Observation(obs.risk, extras, state)

    def risk_label(self) -> str:
        return self.base.risk_label()

    def initial_state(self, init=None) -> GLMState:
        """`init` (a `GLMState` or {m, q} per group, e.g. a simulation's measured state) or
        m_g = 0, q_g = σ0² n_g/d."""
        if init is None:
            init = GLMState(jnp.zeros_like(self.group_eigs),
                            self.init_scale**2 * self.group_fraction)
        elif isinstance(init, dict):
            try:
                init = GLMState.from_config(Table(init, "init"))
            except ConfigError as err:
                raise ValueError(str(err)) from None
        elif not isinstance(init, GLMState):
            raise ValueError(f"init must be a GLMState or a table {{m, q}} (got {type(init).__name__})")
        state = GLMState(jnp.asarray(init.m, float), jnp.asarray(init.q, float))
        groups = self.group_eigs.shape[0]
        if state.m.shape[-1:] != (groups,) or state.q.shape[-1:] != (groups,):
            raise ValueError(f"init must have {groups} entries per overlap, one per distinct "
                             f"eigenvalue (got m {state.m.shape}, q {state.q.shape})")
        self.base.check_state(self.aggregate(state), "init (aggregate M, Q)")
        return state

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise**2)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("weights",)

    def metadata(self) -> dict:
        return {"distinct_eigenvalues": int(self.group_eigs.shape[0]),
                "information_exponent": self.base.information_exponent()}

    def describe(self) -> str:
        lam = np.asarray(self.spectrum)
        return (f"GLM {link_name(self.link)}→{link_name(self.activation)}, {self.loss} loss, "
                f"σ={float(self.noise):g}, d={lam.size}, λ∈[{lam.min():.3g}, {lam.max():.3g}]")


def glm_drift(problem: GLM, state: GLMState, eta: Array) -> GLMState:
    """The right-hand side of the module docstring at the effective rate η' (a scalar)."""
    dtype = state.m.dtype
    lam, frac, t = (x.astype(dtype) for x in (problem.group_eigs, problem.group_fraction,
                                               problem.group_teacher))
    agg = problem.aggregate(state)
    e_teacher, e_student, e2, _ = problem.base.expectations(agg.m, agg.q)
    a1, a2 = solve2(agg.q, agg.m, 1.0, e_student, e_teacher)
    kappa = problem.weight_decay.astype(dtype)
    dm = eta * (lam * (a1 * state.m + a2 * t) - kappa * state.m)
    dq = 2 * eta * (lam * (a1 * state.q + a2 * state.m) - kappa * state.q) + eta**2 * lam * frac * e2
    return GLMState(dm, dq)


@register_theory(GLM, SGD)
def sgd_theory(problem: GLM, optimizer: SGD, state: GLMState, method: str) -> ODE:
    """The per-eigenvalue ODEs of the module docstring (batch, momentum, schedules)."""
    beta = optimizer.checked_momentum()

    def field(t, s, args):
        dtype = s.m.dtype
        eta = optimizer.lr_at(t, "weights").astype(dtype) / (1.0 - beta) / \
            jnp.asarray(optimizer.batch, dtype)
        return glm_drift(problem, s, eta)

    return ODE(state, field, problem.observe, problem.divergence_floor(), "per-eigenvalue ODE")


def line_search_terms(problem: GLM, state: GLMState) -> tuple[Array, Array]:
    r"""d × (slope, curvature) at s = 0 of $s \mapsto E_{\rm batch}[R(w - s\hat g)]$ at leading
    order in 1/d (docs/theory.md, Anisotropic inputs: adaptive rates): with
    $\nabla R = -\Lambda(a_1w + a_2w^*)/d$, slope $= \nabla R\cdot E\hat g$ and the curvature
    $\mathrm{tr}(\nabla^2R\,\mathrm{Cov}\,\hat g) = -a_1E[\mathcal E^2]\,\overline{\lambda^2}/(Bd)$
    ($\nabla^2 R = 2\partial_QR\,\Lambda/d$ + rank two, $2\partial_Q R = -a_1$ by Stein's lemma;
    the batch's unit; B is applied by the caller)."""
    dtype = state.m.dtype
    lam, t = problem.group_eigs.astype(dtype), problem.group_teacher.astype(dtype)
    agg = problem.aggregate(state)
    e_teacher, e_student, e2, _ = problem.base.expectations(agg.m, agg.q)
    a1, a2 = solve2(agg.q, agg.m, 1.0, e_student, e_teacher)
    kappa = problem.weight_decay.astype(dtype)
    slope = jnp.sum(lam**2 * (a1**2 * state.q + 2 * a1 * a2 * state.m + a2**2 * t)) \
        - kappa * jnp.sum(lam * (a1 * state.q + a2 * state.m))
    lam2 = jnp.mean(problem.spectrum.astype(dtype) ** 2)
    return slope, -a1 * e2 * lam2


def adaptive_rate(problem: GLM, optimizer: AdaptiveSGD, state: GLMState, acc: Array) -> Array:
    """The rate's deterministic high-d value: η/√acc (AdaGrad-norm) or η·slope/curvature
    (line search)."""
    if optimizer.rule == "adagrad_norm":
        return optimizer.checked_lr() / jnp.sqrt(acc)
    slope, curvature = line_search_terms(problem, state)
    return optimizer.checked_lr() * jnp.asarray(optimizer.batch, slope.dtype) * slope / curvature


def _check_adaptive(problem: GLM, optimizer: AdaptiveSGD, method: str) -> None:
    if optimizer.rule == "polyak":
        raise ValueError("AdaptiveSGD.rule 'polyak' has no theory on glm: its rate f_B/(d‖ĝ‖²) is "
                         "a ratio of two batch means that does not concentrate for a nonlinear "
                         "link at fixed batch (and is O(1/d) in this family's units)")


@register_theory(GLM, AdaptiveSGD, check=_check_adaptive)
def adaptive_theory(problem: GLM, optimizer: AdaptiveSGD, state: GLMState, method: str) -> ODE:
    r"""The per-eigenvalue ODEs at the rate's deterministic value, the rate as observable `lr`.
    AdaGrad-norm's accumulator $b^2$ grows per unit t by $d\,E\|\hat g\|^2 =
    \mathrm{tr}\Lambda\,E[\mathcal E^2]/B$ at leading order, so an O(1) rate needs η and b0 ∝ √d
    (The High Line's normalisation $b^2 + \frac1d\sum_j\|\nabla f_j\|^2$)."""
    batch = jnp.asarray(optimizer.batch)

    def field(t, y, args):
        s, acc = y
        rate = adaptive_rate(problem, optimizer, s, acc)
        if optimizer.rule == "adagrad_norm":
            agg = problem.aggregate(s)
            e2 = problem.base.expectations(agg.m, agg.q)[2]
            grad2 = jnp.sum(problem.spectrum.astype(s.m.dtype)) * e2 / batch
        else:
            grad2 = jnp.zeros_like(acc)
        return glm_drift(problem, s, rate / batch), grad2

    def observe(y):
        s, acc = y
        obs = problem.observe(s)
        return Observation(obs.risk, {**obs.observables,
                                      "lr": adaptive_rate(problem, optimizer, s, acc)}, s)

    init = (state, (optimizer.b0**2).astype(state.m.dtype))
    return ODE(init, field, observe, problem.divergence_floor(), "per-eigenvalue ODE, deterministic rate")


__all__ = ["GLM", "GLMState"]
