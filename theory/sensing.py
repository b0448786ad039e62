r"""Rank-one matrix sensing with mini-batched prox-linear iterations: the deterministic recursion.

Measurements (docs/theory.md, Rank-one matrix sensing), with sensing vectors $a_i, b_i \sim N(0, I_d)$ and unit signals:

- bilinear: $y_i = \langle a_i, \mu^*\rangle\langle b_i, \nu^*\rangle + \sigma\varepsilon_i$, estimate
  $x = (\mu, \nu) \in \mathbb{R}^{2d}$;
- symmetric: $y_i = \langle a_i, x^*\rangle^2 + \sigma\varepsilon_i$, estimate $x \in \mathbb{R}^d$.

`ProxLinear(step=η, batch_fraction=δ)` draws $m = \delta d$ fresh measurements per iteration and
solves the prox-linear subproblem exactly (squared loss, residuals linearised at $x_t$):
$x_{t+1} = \arg\min_x \frac{1}{2m}\sum_i (r_i - g_i^\top(x - x_t))^2 + \frac{1}{2\eta}\|x - x_t\|^2$,
with $r_i = y_i - f_i(x_t)$ and $g_i = \nabla f_i(x_t)$: $g_i = (s_i a_i, u_i b_i)$,
$u_i = \langle a_i, \mu_t\rangle$, $s_i = \langle b_i, \nu_t\rangle$ (bilinear), or $g_i = 2u_i a_i$
(symmetric). Lou, Verchand, Pananjady, "Hyperparameter tuning via trajectory predictions:
stochastic prox-linear methods in matrix sensing", arXiv 2402.01599 (the algorithm); the
recursion below is the Gaussian-comparison (CGMT) recipe of Chandrasekher, Pananjady, Thrampoulidis,
arXiv 2109.09859, worked out in docs/theory.md, Rank-one matrix sensing (the paper's own
recursion was not available to us) and checked against finite-d simulation.

State: per factor the overlap with the signal and the norm of the orthogonal part,
$\alpha = \langle\mu, \mu^*\rangle$, $\beta = \|P^\perp\mu\|$, $\gamma = \langle\nu,\nu^*\rangle$,
$\zeta = \|P^\perp\nu\|$ (`BilinearState`), or $(\alpha, \beta)$ for $x$ (`SymmetricState`).
Fresh measurements each iteration make the state a sufficient statistic at every step.

Risk: for this family `Curve.risk` holds the error
$\|\mu\nu^\top - \mu^*\nu^{*\top}\|_F^2 = (\alpha\gamma - 1)^2 + \alpha^2\zeta^2 + \beta^2(\gamma^2 + \zeta^2)$
(symmetric: $\|xx^\top - x^*x^{*\top}\|_F^2 = (\alpha^2 - 1)^2 + 2\alpha^2\beta^2 + \beta^4$), with
no 1/2 factor and noise excluded. Horizon: `steps` = iterations; t = samples/d = iterations·δ.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array

from ._family import AbstractProblem, BenchCase, Observation, Recursion
from ._theories import register_theory
from .checks import check_range, is_concrete
from .fields import Number, Numbers, String
from .optim import ProxLinear

MODELS = ("bilinear", "symmetric")
RISK_LABEL = {"bilinear": r"error  $\|\mu\nu^\top - \mu^*\nu^{*\top}\|_F^2$",
              "symmetric": r"error  $\|xx^\top - x^*x^{*\top}\|_F^2$"}
DEFAULT_NODES = 61
_Z_MAX = 10.0  # the quadrature covers |z| <= _Z_MAX standard deviations
# Gauss–Hermite with 3 nodes is exact for polynomials of degree <= 5, the highest degree in
# which the directions that D does not depend on enter any integrand (degree 4, in V s^2).
_POLY_Z, _POLY_W = np.polynomial.hermite_e.hermegauss(3)
_POLY_W = _POLY_W / _POLY_W.sum()


class BilinearState(eqx.Module):
    r"""Overlaps of the bilinear model: $\alpha = \langle\mu,\mu^*\rangle$, $\beta = \|P^\perp\mu\|$,
    $\gamma = \langle\nu,\nu^*\rangle$, $\zeta = \|P^\perp\nu\|$."""

    alpha: Array
    beta: Array
    gamma: Array
    zeta: Array


class SymmetricState(eqx.Module):
    r"""Overlaps of the symmetric model: $\alpha = \langle x, x^*\rangle$, $\beta = \|P^\perp x\|$."""

    alpha: Array
    beta: Array


_STATES = {"bilinear": BilinearState, "symmetric": SymmetricState}
_DEFAULT_INIT = {"bilinear": (0.6, 0.6, 0.7, 0.4), "symmetric": (0.7, 0.5)}


def state_vector(state: BilinearState | SymmetricState) -> Array:
    """The state's fields stacked along a trailing axis: (α, β, γ, ζ) or (α, β)."""
    return jnp.stack([jnp.asarray(getattr(state, name)) for name in state.__dataclass_fields__], axis=-1)


def state_from_vector(model: str, v: Array) -> BilinearState | SymmetricState:
    """Inverse of `state_vector`."""
    return _STATES[model](*(v[..., i] for i in range(v.shape[-1])))


def error_of(model: str, v: Array) -> Array:
    r"""The Frobenius error of a state vector, written as a sum of squares (no cancellation)."""
    if model == "bilinear":
        a, b, g, z = (v[..., i] for i in range(4))
        return (a * g - 1.0) ** 2 + (a * z) ** 2 + b**2 * (g**2 + z**2)
    a, b = v[..., 0], v[..., 1]
    return (a**2 - 1.0) ** 2 + 2.0 * (a * b) ** 2 + b**4


class _InitVector(Numbers):
    """The start (α, β, γ, ζ) / (α, β) as a list whose length the model sets."""

    def read(self, table, key, given):
        init = table.numbers(key)
        size = len(_DEFAULT_INIT[given.get("model", "bilinear")])
        if len(init) != size:
            table.fail(key, f"expected {size} numbers for the {given.get('model', 'bilinear')} "
                            f"model (got {len(init)})")
        return init

    def encode(self, value):
        return super().encode(state_vector(value))


class RankOneSensing(AbstractProblem):
    r"""Rank-one matrix sensing from Gaussian measurements (docs/theory.md, Rank-one matrix
    sensing; arXiv 2402.01599).

    **Arguments:**

    - `model`: "bilinear" ($y = \langle a, \mu^*\rangle\langle b, \nu^*\rangle + \sigma\varepsilon$)
      or "symmetric" ($y = \langle a, x^*\rangle^2 + \sigma\varepsilon$); $\|\mu^*\| = \|\nu^*\| =
      \|x^*\| = 1$.
    - `noise`: measurement-noise standard deviation $\sigma \ge 0$.
    - `init`: the initial state, a `BilinearState` / `SymmetricState` or a sequence
      (α, β, γ, ζ) / (α, β) with β, ζ ≥ 0; default (0.6, 0.6, 0.7, 0.4) (error 0.628, the
      reference start of docs/theory.md) / (0.7, 0.5).
    """

    family = "sensing"
    methods = {"limit": "recursion"}
    theory_options = {"nodes": DEFAULT_NODES}
    config_fields = {"model": String(MODELS), "noise": Number(), "init": _InitVector()}
    model: str = eqx.field(static=True)
    noise: Array
    init: BilinearState | SymmetricState

    def __init__(self, model: str = "bilinear", noise=0.0, init=None):
        if model not in MODELS:
            raise ValueError(f"RankOneSensing.model must be one of {', '.join(MODELS)} (got {model!r})")
        self.model = model
        self.noise = jnp.asarray(noise, dtype=float)
        self.init = _as_state(model, _DEFAULT_INIT[model] if init is None else init)

    def __check_init__(self):
        check_range("RankOneSensing.noise", self.noise, low=0.0)
        for name in self.init.__dataclass_fields__:
            value = getattr(self.init, name)
            if name in ("beta", "zeta"):
                check_range(f"RankOneSensing.init.{name}", value, low=0.0)
            else:
                check_range(f"RankOneSensing.init.{name}", value)

    def error(self, state: BilinearState | SymmetricState) -> Array:
        """The error $\\|\\mu\\nu^\\top - \\mu^*\\nu^{*\\top}\\|_F^2$ (or $\\|xx^\\top - x^*x^{*\\top}\\|_F^2$)."""
        return error_of(self.model, state_vector(state))

    # ---------------------------------------------------------------- theory

    def initial_state(self, init=None) -> BilinearState | SymmetricState:
        """`init` (a state or a sequence (α, β, γ, ζ) / (α, β); e.g. a simulation's measured
        state), or `problem.init`."""
        return self.init if init is None else _as_state(self.model, init)

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise**2)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("mu", "nu") if self.model == "bilinear" else ("x",)

    def metadata(self) -> dict:
        return {"model": self.model}

    def risk_label(self) -> str:
        """The y-axis label: the error ‖μνᵀ − μ*ν*ᵀ‖²_F (without the ½)."""
        return RISK_LABEL[self.model]

    @classmethod
    def bench_case(cls, quick: bool = False) -> BenchCase:
        """Bilinear, σ = 0.1, η = 1, δ = 1, 15 iterations against 32 runs at d = 1000 (quick:
        d = 200, 8 seeds); the sweep over η ∈ [0.25, 8]."""
        d, seeds, points = (200, 8, 100) if quick else (1000, 32, 1000)
        horizon = {"steps": 15, "num_points": 16}
        return BenchCase(cls("bilinear", 0.1), ProxLinear(1.0, 1.0), horizon,
                         {"d": d, "seeds": seeds}, "step", jnp.linspace(0.25, 8.0, points), horizon)

    def describe(self) -> str:
        init = ", ".join(f"{float(x):.3g}" for x in np.asarray(state_vector(self.init)))
        return f"rank-one sensing ({self.model}), σ={float(self.noise):g}, start ({init})"


@register_theory(RankOneSensing, ProxLinear)
def prox_linear_theory(problem: RankOneSensing, optimizer: ProxLinear, state, method: str, *,
                       nodes: int) -> Recursion:
    """The one-step map `one_step` on the state vector; `nodes` quadrature nodes per
    direction on which D depends (>= 11; with the default 61 the error is within 1e-8
    (relative) of 241 nodes for η/δ ≤ 100 and within 2e-5 up to η/δ = 5e5)."""
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 11:
        raise ValueError(f"nodes must be an integer >= 11 (got {nodes!r})")
    model = problem.model

    def observe(theta):
        return Observation(error_of(model, theta), {}, state_from_vector(model, theta))

    return Recursion(state_vector(state), lambda theta, k: one_step(problem, optimizer, theta, nodes=nodes),
                     observe, problem.divergence_floor(), "high-d recursion")


def _as_state(model: str, init) -> BilinearState | SymmetricState:
    cls = _STATES[model]
    if isinstance(init, (BilinearState, SymmetricState)):
        if not isinstance(init, cls):
            raise ValueError(f"RankOneSensing.init must be a {cls.__name__} for the {model} model "
                             f"(got {type(init).__name__})")
        return cls(*(jnp.asarray(getattr(init, f), dtype=float) for f in cls.__dataclass_fields__))
    values = np.asarray(init, dtype=np.float64) if is_concrete(init) else init
    size = len(cls.__dataclass_fields__)
    if np.shape(values) != (size,):
        names = ", ".join(cls.__dataclass_fields__)
        raise ValueError(f"RankOneSensing.init must be ({names}) for the {model} model "
                         f"(got shape {np.shape(values)})")
    return cls(*(jnp.asarray(values[i], dtype=float) for i in range(size)))


# ---------------------------------------------------------------- the one-step map


class Design(NamedTuple):
    r"""Quadrature points of the one-step map: weights `w` (N,), per-block multipliers $\psi_j$
    (J, N) (the factor that scales the block's sensing vector in $g_i$), the low-dimensional
    features $\phi$ (2J, N) and the clean linearised target $c_0$ (N,); `w_low`, `psi_low` the
    (smaller) grid of the directions on which $D$ depends, for the E1 solve."""

    w: Array
    psi: Array
    phi: Array
    c0: Array
    w_low: Array
    psi_low: Array


def _sinh_grid(scale: Array, nodes: int) -> tuple[Array, Array]:
    r"""Trapezoid nodes and weights for $E[f(z)]$, $z \sim N(0, 1)$, after $z = L\sinh v$.

    The integrands carry $1/D$ with $D = 1 + A z^2 + \dots$, whose poles at $z = \pm i/\sqrt A$
    approach the real axis for a large $A$ (large step, small batch) and stall Gauss–Hermite
    (about 1e-2 relative error with 80 nodes at A = 20). With $L \le 1/\sqrt A$ the poles sit at
    $|\Im v| \ge \pi/2$ and the trapezoid rule converges geometrically whatever A is (the
    sinh transformation for nearly singular integrals).
    """
    t = np.linspace(-1.0, 1.0, nodes)
    vmax = jnp.arcsinh(_Z_MAX / scale)
    v = vmax * t
    z = scale * jnp.sinh(v)
    w = jnp.cosh(v) * jnp.exp(-0.5 * z**2)
    return z, w / jnp.sum(w)


def _rotate(alpha, beta, g1, g2):
    r"""(u, Z1, Z2) with u = αZ1 + βZ2 = r g1, for independent standard g1, g2."""
    r = jnp.sqrt(alpha**2 + beta**2)
    safe = jnp.where(r > 0, r, 1.0)
    cos, sin = jnp.where(r > 0, alpha / safe, 1.0), jnp.where(r > 0, beta / safe, 0.0)
    return r * g1, cos * g1 + sin * g2, sin * g1 - cos * g2


def _design_bilinear(theta: Array, cap: Array, nodes: int) -> Design:
    """u = ⟨a, μ_t⟩ = r_μ G1, s = ⟨b, ν_t⟩ = r_ν H1; D depends on (G1, H1) only."""
    alpha, beta, gamma, zeta = (theta[i] for i in range(4))
    r_mu2, r_nu2 = alpha**2 + beta**2, gamma**2 + zeta**2
    # c_μ, c_ν <= η/δ = cap (E1), so D <= 1 + cap (r_ν² H1² + r_μ² G1²)
    g1, wg = _sinh_grid(1.0 / jnp.sqrt(1.0 + cap * r_mu2), nodes)
    h1, wh = _sinh_grid(1.0 / jnp.sqrt(1.0 + cap * r_nu2), nodes)
    G1, G2, H1, H2 = jnp.meshgrid(g1, _POLY_Z, h1, _POLY_Z, indexing="ij")
    W = (wg[:, None, None, None] * _POLY_W[None, :, None, None]
         * wh[None, None, :, None] * _POLY_W[None, None, None, :])
    G1, G2, H1, H2, W = (x.reshape(-1) for x in (G1, G2, H1, H2, W))
    u, z1, z2 = _rotate(alpha, beta, G1, G2)
    s, w1, w2 = _rotate(gamma, zeta, H1, H2)
    phi = jnp.stack([s * z1, s * z2, u * w1, u * w2])
    c0 = z1 * w1 + s * u  # y + u s: the target of the linearised problem in x (not x - x_t)
    gl, hl = jnp.meshgrid(g1, h1, indexing="ij")
    w_low = (wg[:, None] * wh[None, :]).reshape(-1)
    psi_low = jnp.stack([jnp.sqrt(r_nu2) * hl.reshape(-1), jnp.sqrt(r_mu2) * gl.reshape(-1)])
    return Design(W, jnp.stack([s, u]), phi, c0, w_low, psi_low)


def _design_symmetric(theta: Array, cap: Array, nodes: int) -> Design:
    """u = ⟨a, x_t⟩ = r G1, ψ = 2u; D depends on G1 only."""
    alpha, beta = theta[0], theta[1]
    r2 = alpha**2 + beta**2
    g1, wg = _sinh_grid(1.0 / jnp.sqrt(1.0 + 4.0 * cap * r2), nodes)
    G1, G2 = jnp.meshgrid(g1, _POLY_Z, indexing="ij")
    W = (wg[:, None] * _POLY_W[None, :]).reshape(-1)
    G1, G2 = G1.reshape(-1), G2.reshape(-1)
    u, z1, z2 = _rotate(alpha, beta, G1, G2)
    psi = 2.0 * u
    phi = jnp.stack([psi * z1, psi * z2])
    c0 = z1**2 + u**2  # y + u²
    return Design(W, psi[None, :], phi, c0, wg, (2.0 * jnp.sqrt(r2) * g1)[None, :])


def _tolerance() -> float:
    return 1e-11 if jnp.result_type(float) == jnp.float64 else 1e-5


def solve_resolvent(design: Design, delta: Array, inv_step: Array) -> tuple[Array, Array]:
    r"""(E1) $c_j > 0$ with $1/(\delta c_j) = E[\psi_j^2/D] + 1/\eta$, $D = 1 + \sum_k c_k\psi_k^2$.

    In $x = \log c$ this is $\nabla\Phi(x) = 0$ for the strictly concave
    $\Phi(x) = \frac{1}{\delta}\sum_j x_j - E[\log D] - \sum_j e^{x_j}/\eta$: the root is unique.
    It is found by Newton's method (optimistix) on
    $h_j(c) = \delta c_j(E[\psi_j^2/D] + 1/\eta) - 1$ in $c$ itself, from the sub-solution
    $c_j = 1/(\delta(E[\psi_j^2] + 1/\eta))$ ($h \le 0$ there as $D \ge 1$). With one block h
    is concave and increasing, so the iterates rise monotonically to the root; with two it
    converged within 14 steps in each of 2,000 random cases (η ∈ [1e-2, 1e7], δ ∈ [3e-3, 30],
    norms 0.03–30). (Newton in log c overshoots from the flat part of $\nabla\Phi$.) Returns
    (c, converged), converged meaning $|h_j| < 10^3$ × the tolerance.
    """
    psi2 = design.psi_low**2

    def h(c, _):
        D = 1.0 + c @ psi2
        return delta * c * ((psi2 / D[None, :]) @ design.w_low + inv_step) - 1.0

    c0 = 1.0 / (delta * (psi2 @ design.w_low + inv_step))
    tol = _tolerance()
    sol = optx.root_find(h, optx.Newton(rtol=tol, atol=tol), c0, max_steps=100, throw=False)
    ok = jnp.all(sol.value > 0) & (jnp.max(jnp.abs(h(sol.value, None))) < 1e3 * tol)
    return sol.value, ok


def ridge_step(design: Design, theta: Array, delta: Array, inv_step: Array,
               noise_var: Array) -> Array:
    r"""One prox-linear iteration on the state, docs/theory.md (E1)–(E3).

    - (E1) $c$ from `solve_resolvent`; $D = 1 + \sum_j c_j\psi_j^2$.
    - (E2) $p = (E[\phi\phi^\top/D] + I/\eta)^{-1}(E[\phi c_0/D] + \theta_t/\eta)$: the new
      coordinates in the plane of the signal and the current orthogonal direction.
    - (E3) $w_0 = c_0 - \phi\cdot p$, $V = w_0^2 + \sigma^2 + \sum_k\rho_k^2\psi_k^2$,
      $\rho_j^2 = \delta c_j^2 E[V\psi_j^2/D^2]$ (a J×J linear system): the squared norm of the
      new component orthogonal to that plane, per block.

    Returns the new state vector; NaN (reported as divergence by the scan) if E1 failed or E3
    has no nonnegative solution.
    """
    c, ok = solve_resolvent(design, delta, inv_step)
    psi2 = design.psi**2
    D = 1.0 + c @ psi2
    w_d = design.w / D
    eye = jnp.eye(theta.shape[0], dtype=theta.dtype)
    M = (design.phi * w_d[None, :]) @ design.phi.T + inv_step * eye
    b = (design.phi * w_d[None, :]) @ design.c0 + inv_step * theta
    p = jnp.linalg.solve(M, b)
    w0 = design.c0 - p @ design.phi
    w_d2 = design.w / D**2
    K = (psi2 * w_d2[None, :]) @ psi2.T
    J = c.shape[0]
    A = jnp.eye(J, dtype=theta.dtype) - delta * (c**2)[:, None] * K
    rhs = delta * c**2 * ((psi2 * w_d2[None, :]) @ (w0**2 + noise_var))
    rho2 = jnp.linalg.solve(A, rhs)
    ok = ok & jnp.all(rho2 >= 0)
    along = p[0::2]
    across = jnp.sqrt(p[1::2] ** 2 + jnp.maximum(rho2, 0.0))
    new = jnp.stack([along, across], axis=-1).reshape(-1)
    return jnp.where(ok, new, jnp.nan)


def one_step(problem: RankOneSensing, optimizer: ProxLinear, theta: Array, *,
             nodes: int = DEFAULT_NODES) -> Array:
    """The recursion's map on a state vector (α, β, γ, ζ) or (α, β), for one iteration."""
    delta = optimizer.checked_batch_fraction()
    inv_step = 1.0 / optimizer.checked_step()
    cap = optimizer.step / optimizer.batch_fraction
    build = _design_bilinear if problem.model == "bilinear" else _design_symmetric
    design = build(theta, cap, nodes)
    return ridge_step(design, theta, delta, inv_step, problem.noise**2)


__all__ = ["RankOneSensing", "BilinearState", "SymmetricState", "MODELS", "one_step",
           "ridge_step", "solve_resolvent", "Design", "state_vector", "state_from_vector",
           "error_of", "RISK_LABEL"]
