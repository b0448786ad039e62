r"""Multi-index models (two-layer committee machines) on anisotropic Gaussian inputs: the
per-eigenvalue ODEs.

Inputs $x = \sqrt\Lambda z$ in the eigenbasis (`spectrum`); teacher $y = \sum_m v^*_m
g(\nu_m) + \sigma\xi$, $\nu_m = w^*_m\cdot x/\sqrt d$, $w^*_m = \sqrt d\,\theta^*_m$ with
$\Theta\Lambda\Theta^\top = I_M$; student $f = \sum_k v_k g(\lambda_k)$; the step of
`CommitteeMachine` (η times the gradient in w, plus weight decay κ: $-\eta\kappa w/d$).
docs/theory.md, Anisotropic inputs; Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv
2308.08977.

Per group g of equal eigenvalues: $Q_g = \sum_{i\in g} w_{\cdot i}w_{\cdot i}^\top/d$ (K, K),
$R_g = \sum_{i\in g} w_{\cdot i}w^{*\top}_{\cdot i}/d$ (K, M), $T_g$ likewise (fixed); the
fields have covariance $C = [[Q, R], [R^\top, I]]$ with $Q = \sum_g\lambda_gQ_g$,
$R = \sum_g\lambda_gR_g$. With $\mathcal E_k = -v_kg'(\lambda_k)(f - y)$, $H = E[\mathcal E f^\top]$
(K × (K+M), over all fields) and $P = HC^{-1} = [P_s, P_t]$, Gaussian conditioning gives
$E[\mathcal E_k x_i] = \frac{\lambda_i}{\sqrt d}(P_s w_{\cdot i} + P_t w^*_{\cdot i})_k$, so with
$\eta' = \eta/(B(1-\beta))$, $A_g = \lambda_g(P_sQ_g + P_tR_g^\top)$:
$dR_g/dt = \eta'[\lambda_g(P_sR_g + P_tT_g) - \kappa R_g]$,
$dQ_g/dt = \eta'(A_g + A_g^\top - 2\kappa Q_g) + \eta'^2\lambda_g\frac{n_g}{d}E[\mathcal E\mathcal E^\top]$,
and v as in `CommitteeMachine`. H, $E[\mathcal E\mathcal E^\top]$ and the risk are the committee's
integrals at the aggregate (Q, R, v); one group of λ = 1 gives `CommitteeMachine`'s ODEs.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._committee_ode import Overlaps, _noise_moment
from ._family import ODE, AbstractProblem, Observation
from ._spectral import (checked_spectrum, checked_teacher, group_spectrum, random_teacher,
                        teacher_groups)
from ._theories import register_theory
from .checks import check_integer, check_memory, check_range, is_concrete
from .committee import CommitteeMachine, _activation_name
from .fields import Boolean, Configurable, Integer, Matrix, Number, Numbers, String
from .optim import SGD
from .spectra import Spectrum


class MultiIndexState(eqx.Module, Configurable):
    r"""Per distinct eigenvalue (axis -3, decreasing): $Q_g$ (G, K, K), $R_g$ (G, K, M); the
    student's second layer v (K,)."""

    config_fields = {}
    Q: Array
    R: Array
    v: Array


class MultiIndex(AbstractProblem):
    r"""A committee of K units learning one of M units on inputs with covariance spectrum
    `spectrum` (docs/theory.md, Anisotropic inputs).

    **Arguments:**

    - `K`, `M`: student and teacher units (integers >= 1).
    - `spectrum`: the d eigenvalues λ_i >= 0 of the input covariance (not renormalised).
    - `teacher`: Θ* (M, d) in the eigenbasis with $\Theta\Lambda\Theta^\top = I_M$; default:
      M Gaussian directions made orthonormal in that metric (numpy seed 0).
    - `activation`, `teacher_second_layer`, `second_layer`, `train_second_layer`, `noise`,
      `quadrature`: as `CommitteeMachine`; `weight_decay` κ >= 0 on the first layer.
    - `init_scale`: σ0 > 0: each simulated seed draws $w_k \sim N(0, \sigma_0^2 I_d)$; the
      theory starts at the per-group overlaps of one such student drawn with key 0 (a
      finite-d start, which breaks the symmetry of the committee's plateau).
    """

    family = "multi_index"
    methods = {"limit": "ode"}
    ode_tolerances = (1e-8, 1e-10, 100_000)
    config_fields = {"K": Integer(), "M": Integer(), "spectrum": Spectrum(), "teacher": Matrix(),
                     "activation": String(name=_activation_name),
                     "teacher_second_layer": Numbers(), "second_layer": Numbers(),
                     "train_second_layer": Boolean(), "noise": Number(),
                     "weight_decay": Number(), "init_scale": Number(), "quadrature": None}
    K: int = eqx.field(static=True)
    M: int = eqx.field(static=True)
    spectrum: Array
    teacher: Array
    activation: str = eqx.field(static=True)
    teacher_second_layer: Array
    second_layer: Array
    train_second_layer: bool = eqx.field(static=True)
    noise: Array
    weight_decay: Array
    init_scale: Array
    quadrature: tuple[int, int] | None = eqx.field(static=True)
    group_eigs: Array
    group_fraction: Array
    group_teacher: Array
    group_index: Array

    def __init__(self, K, M, spectrum, teacher=None, activation="erf", teacher_second_layer=None,
                 second_layer=None, train_second_layer=False, noise=0.0, weight_decay=0.0,
                 init_scale=0.1, quadrature=None):
        check_integer("MultiIndex.K", K, low=1)
        check_integer("MultiIndex.M", M, low=1)
        try:
            base = CommitteeMachine(K, M, activation, teacher_second_layer, train_second_layer,
                                    noise, second_layer=second_layer, init_scale=init_scale,
                                    quadrature=quadrature)
        except ValueError as err:  # the same fields, named as this family's
            raise ValueError(str(err).replace("CommitteeMachine.", "MultiIndex.")) from None
        spectrum = checked_spectrum("MultiIndex.spectrum", spectrum)
        # the teacher, a student and the per-group state: O((K + M) d) and O(G K (K + M))
        check_memory("MultiIndex.K, M, spectrum", 8.0 * 4 * (K + M) ** 2 * spectrum.size,
                     f"K = {K}, M = {M}, d = {spectrum.size}")
        teacher = random_teacher(spectrum, int(M)) if teacher is None else teacher
        teacher = checked_teacher("MultiIndex.teacher", teacher, spectrum)
        if teacher.shape[0] != M:
            raise ValueError(f"MultiIndex.teacher must have M = {M} directions (got {teacher.shape[0]})")
        self.K, self.M, self.activation = base.K, base.M, base.activation
        self.teacher_second_layer, self.second_layer = base.teacher_second_layer, base.second_layer
        self.train_second_layer, self.noise = base.train_second_layer, base.noise
        self.weight_decay = jnp.asarray(weight_decay, dtype=float)
        self.init_scale, self.quadrature = base.init_scale, base.quadrature
        self.spectrum, self.teacher = jnp.asarray(spectrum), jnp.asarray(teacher)
        groups = group_spectrum(spectrum)
        self.group_eigs, self.group_fraction = jnp.asarray(groups.eigs), jnp.asarray(groups.fraction)
        self.group_index = jnp.asarray(groups.index)
        self.group_teacher = jnp.asarray(teacher_groups(teacher, groups))

    def __check_init__(self):
        check_range("MultiIndex.weight_decay", self.weight_decay, low=0.0)

    @property
    def base(self) -> CommitteeMachine:
        """The isotropic committee whose integrals these are (at the aggregate overlaps, T = I)."""
        return CommitteeMachine(self.K, self.M, self.activation, self.teacher_second_layer,
                                self.train_second_layer, self.noise, second_layer=self.second_layer,
                                init_scale=self.init_scale, quadrature=self.quadrature)

    @property
    def dimension(self) -> int:
        return int(self.spectrum.shape[0])

    def aggregate(self, state: MultiIndexState) -> Overlaps:
        """Q = Σ λ_g Q_g, R = Σ λ_g R_g and v: the fields' overlaps."""
        lam = self.group_eigs.astype(state.Q.dtype)
        return Overlaps(jnp.einsum("g,...gkl->...kl", lam, state.Q),
                        jnp.einsum("g,...gkm->...km", lam, state.R), state.v)

    def observe(self, state: MultiIndexState) -> Observation:
        """The committee's risk at the aggregate overlaps."""
        return Observation(self.base.risk(self.aggregate(state)), {}, state)

    def measure(self, W, v) -> MultiIndexState:
        """The per-group overlaps of a student (W (K, d), v) with the problem's teacher."""
        d = W.shape[-1]
        W_star = math.sqrt(d) * self.teacher.astype(W.dtype)
        sums = lambda x: jnp.moveaxis(jax.ops.segment_sum(jnp.moveaxis(x, -1, 0), self.group_index,
                                                           num_segments=self.group_eigs.shape[0]), 0, -3) / d
        return MultiIndexState(sums(W[:, None, :] * W[None, :, :]),
                               sums(W[:, None, :] * W_star[None, :, :]), v)

    def initial_state(self, init=None) -> MultiIndexState:
        """`init` (a `MultiIndexState`, e.g. a simulation's measured one) or the per-group
        overlaps of a student $w_k \\sim N(0, \\sigma_0^2 I_d)$ drawn with key 0."""
        if init is not None:
            if not isinstance(init, MultiIndexState):
                raise ValueError(f"init must be a MultiIndexState (got {type(init).__name__})")
            return MultiIndexState(*(jnp.asarray(x, float) for x in (init.Q, init.R, init.v)))
        W = self.init_scale * jax.random.normal(jax.random.key(0), (self.K, self.dimension),
                                                self.spectrum.dtype)
        return self.measure(W, self.second_layer.astype(W.dtype))

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise**2)

    def parameter_groups(self) -> tuple[str, ...]:
        return self.base.parameter_groups()

    def metadata(self) -> dict:
        out = {"distinct_eigenvalues": int(self.group_eigs.shape[0])}
        if is_concrete(self.init_scale):  # a traced init_scale (jit, vmap, grad) is left out
            out["init"] = (f"random (init_scale={float(self.init_scale):g}, d={self.dimension}, "
                           "key 0)")
        return out

    def describe(self) -> str:
        lam = np.asarray(self.spectrum)
        return (f"multi-index K={self.K}, M={self.M}, {_activation_name(self.activation)}, "
                f"σ={float(self.noise):g}, d={lam.size}, λ∈[{lam.min():.3g}, {lam.max():.3g}]")


def multi_index_field(problem: MultiIndex, optimizer: SGD):
    """The right-hand side of the module docstring as `f(t, state, args)`."""
    base, K = problem.base, problem.K
    act = base.act
    beta = optimizer.checked_momentum()

    def field(t, s: MultiIndexState, args):
        dtype = s.Q.dtype
        lam = problem.group_eigs.astype(dtype)[:, None, None]
        frac = problem.group_fraction.astype(dtype)[:, None, None]
        T_g = problem.group_teacher.astype(dtype)
        agg = problem.aggregate(s)
        cov = base.covariance(agg)
        batch = jnp.asarray(optimizer.batch, dtype)
        eta = optimizer.lr_at(t, "first_layer").astype(dtype) / (1.0 - beta) / batch
        diag = jnp.diag(cov)
        i2, second, cross = act.price(diag[:K, None], cov[:K, :], diag[None, :])
        u = base.signed_second_layers(agg)
        G = (second @ u)[:, None] * cov[:K, :] + (cross * u[None, :]) @ cov
        H = -s.v[:, None] * G
        P = jnp.linalg.solve(cov, H.T).T
        Ps, Pt = P[:, :K], P[:, K:]
        kappa = problem.weight_decay.astype(dtype)
        A = lam * (jnp.einsum("kl,glj->gkj", Ps, s.Q) + jnp.einsum("km,glm->gkl", Pt, s.R))
        noise = (s.v[:, None] * s.v[None, :]) * (_noise_moment(base, cov, u)
                                                 + base.noise.astype(dtype) ** 2 * cross[:, :K])
        dQ = eta * (A + jnp.swapaxes(A, -1, -2) - 2 * kappa * s.Q) + eta**2 * lam * frac * noise[None]
        dR = eta * (lam * (jnp.einsum("kl,glm->gkm", Ps, s.R) + jnp.einsum("kn,gnm->gkm", Pt, T_g))
                    - kappa * s.R)
        if problem.train_second_layer:
            eta_v = optimizer.lr_at(t, "second_layer").astype(dtype) / (1.0 - beta) / batch
            dv = -eta_v * (i2 @ u)
        else:
            dv = jnp.zeros_like(s.v)
        return MultiIndexState(dQ, dR, dv)

    return field


@register_theory(MultiIndex, SGD)
def sgd_theory(problem: MultiIndex, optimizer: SGD, state: MultiIndexState, method: str) -> ODE:
    """The per-eigenvalue ODEs of the module docstring (batch, momentum, schedules)."""
    return ODE(state, multi_index_field(problem, optimizer), problem.observe,
               problem.divergence_floor(), "per-eigenvalue ODE")


__all__ = ["MultiIndex", "MultiIndexState"]
