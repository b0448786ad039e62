r"""Binary classification of two Gaussian clusters under online SGD: ODEs of (m, q, b).

Data $x = y\mu/\sqrt d + \sqrt\Delta z$, $z \sim N(0, I_d)$, $\|\mu\|^2 = d$, label $y = +1$
with probability ρ and −1 otherwise. Model $\lambda = w\cdot x/\sqrt d + b$; margin loss
$\ell(y\lambda)$: logistic $\log(1 + e^{-v})$, hinge $\max(0, 1 - v)$, square $\tfrac12(1 - v)^2$,
optionally weighted per class ($\omega_+$, $\omega_-$). docs/theory.md, Gaussian mixtures;
Mignacco, Krzakala, Lu, Urbani, Zdeborová, arXiv 2006.06098; Ben Arous, Gheissari, Jagannath,
arXiv 2206.04030; Francazi, Baity-Jesi, Lucchi, arXiv 2207.00391 (class imbalance).

**Learning-rate scaling.** With $\psi = -\ell'$ and $\varphi = \omega_y y\,\psi(y\lambda)$,
`SGD(lr=η, batch=B, momentum=β)` takes $w \leftarrow w + \frac{\eta}{\sqrt d}\overline{\varphi x}$
and $b \leftarrow b + \frac{\eta_b}{d}\overline{\varphi}$ (groups "weights" and "bias"; $\eta_b$ is
`group_lr["bias"]`, default η): the bias step is O(1/d), so b moves by O(1) per unit t and stays
deterministic. Order parameters $m = w\cdot\mu/d$, $q = \|w\|^2/d$, b. Given y, the margin is
$v = h_y + s\zeta$, $h_y = m + yb$, $s = \sqrt{\Delta q}$, ζ ~ N(0, 1). With
$A_y = E[\psi]$, $G_y = E[\psi\zeta]$, $C_y = E[\psi^2]$ and $\eta' = \eta/(B(1 - \beta))$:
$dm/dt = \eta'\sum_y \rho_y\omega_y (A_y + (ms/q) G_y)$,
$dq/dt = \eta'\sum_y \rho_y [2\omega_y(mA_y + sG_y) + \eta'\Delta\omega_y^2 C_y]$,
$db/dt = \eta_b'\sum_y \rho_y\omega_y\, y A_y$; per class, A, G, C are closed forms (square,
hinge) or a 1-D Gauss–Hermite rule (logistic).

Observables (exact functions of the state): the test error $\rho\,\varepsilon_+ + (1-\rho)
\varepsilon_-$ with $\varepsilon_y = \Phi(-h_y/s)$, the per-class errors; the risk is the
(unweighted) test loss.
"""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import norm
from jaxtyping import Array

from . import _mixture_noise
from ._family import ODE, AbstractProblem, BenchCase, Observation
from ._theories import register_theory
from .checks import check_integer, check_range, is_concrete
from .fields import Configurable, Integer, Nested, Number, Numbers, String
from .optim import SGD

LOSSES = ("logistic", "hinge", "square")
DEFAULT_QUADRATURE = 64


class MixtureState(eqx.Module, Configurable):
    r"""$m = w\cdot\mu/d$, $q = \|w\|^2/d$ and the bias b (leading axes: time, seeds)."""

    config_fields = {"m": Number(), "q": Number(), "b": Number()}
    m: Array
    q: Array
    b: Array


def margin_loss(loss: str, v: Array) -> Array:
    """The loss of the margin v = yλ."""
    if loss == "logistic":
        return jax.nn.softplus(-v)
    if loss == "hinge":
        return jnp.maximum(0.0, 1.0 - v)
    return 0.5 * (1.0 - v) ** 2


def margin_force(loss: str, v: Array) -> Array:
    """ψ = −ℓ'(v)."""
    if loss == "logistic":
        return jax.nn.sigmoid(-v)
    if loss == "hinge":
        return (v < 1.0).astype(v.dtype)
    return 1.0 - v


class _ClassWeights(Numbers):
    """Two numbers (ω+, ω−), or "balanced"."""

    def read(self, table, key, given):
        return "balanced" if table.raw(key) == "balanced" else table.numbers(key)


class GaussianMixture(AbstractProblem):
    r"""Two Gaussian clusters, a linear classifier with a bias (docs/theory.md, Gaussian
    mixtures).

    **Arguments:**

    - `rho`: the fraction ρ of the class y = +1, in (0, 1).
    - `delta`: the cluster variance Δ > 0.
    - `loss`: "logistic", "hinge" or "square".
    - `class_weights`: $(\omega_+, \omega_-)$ >= 0 multiplying each class's loss (default
      (1, 1); "balanced" = $(1/(2\rho), 1/(2(1-\rho)))$).
    - `init_scale`: σ0 > 0 of a random start $w \sim N(0, \sigma_0^2 I_d)$, b = 0 (each
      simulated seed its own; the theory starts at m = 0, q = σ0², b = 0).
    - `init`: the initial (m, q, b), a `MixtureState` or a table, shared by theory and
      simulation; None for the random start.
    - `quadrature`: Gauss–Hermite nodes of the logistic loss's expectations.
    """

    family = "gaussian_mixture"
    methods = {"limit": "ode"}
    observable_labels = {"error": "test error", "error_plus": "test error, class +1",
                         "error_minus": "test error, class −1"}
    config_fields = {"rho": Number(), "delta": Number(), "loss": String(LOSSES),
                     "class_weights": _ClassWeights(), "init_scale": Number(),
                     "init": Nested(MixtureState), "quadrature": Integer()}
    rho: Array
    delta: Array
    loss: str = eqx.field(static=True)
    class_weights: Array
    init_scale: Array
    init: MixtureState | None
    quadrature: int = eqx.field(static=True)

    def __init__(self, rho=0.5, delta=1.0, loss="logistic", class_weights=None, init_scale=0.1,
                 init=None, quadrature=DEFAULT_QUADRATURE):
        if loss not in LOSSES:
            raise ValueError(f"GaussianMixture.loss must be one of {', '.join(LOSSES)} (got {loss!r})")
        check_integer("GaussianMixture.quadrature", quadrature, low=2)
        check_range("GaussianMixture.rho", rho, low=0.0, high=1.0, low_open=True, high_open=True)
        self.rho = jnp.asarray(rho, dtype=float)
        self.delta = jnp.asarray(delta, dtype=float)
        self.loss = loss
        if isinstance(class_weights, str):
            if class_weights != "balanced":
                raise ValueError("GaussianMixture.class_weights must be two numbers >= 0 or "
                                 f"'balanced' (got {class_weights!r})")
            class_weights = jnp.stack([0.5 / self.rho, 0.5 / (1.0 - self.rho)])
        self.class_weights = jnp.asarray((1.0, 1.0) if class_weights is None else class_weights,
                                         dtype=float)
        self.init_scale = jnp.asarray(init_scale, dtype=float)
        self.init = None if init is None else _as_state(init, "GaussianMixture.init")
        self.quadrature = int(quadrature)

    def __check_init__(self):
        check_range("GaussianMixture.rho", self.rho, low=0.0, high=1.0, low_open=True, high_open=True)
        check_range("GaussianMixture.delta", self.delta, low=0.0, low_open=True)
        if jnp.shape(self.class_weights) != (2,):
            raise ValueError("GaussianMixture.class_weights must be two numbers (ω+, ω−) "
                             f"(got shape {jnp.shape(self.class_weights)})")
        check_range("GaussianMixture.class_weights", self.class_weights, low=0.0)
        check_range("GaussianMixture.init_scale", self.init_scale, low=0.0, low_open=True)
        if self.init is not None:
            check_state(self.init, "GaussianMixture.init")

    # ---------------------------------------------------------------- per class

    def _class_moments(self, h: Array, s: Array) -> tuple[Array, Array, Array, Array]:
        """(E[ψ], E[ψζ], E[ψ²], E[ℓ]) of the margin v = h + sζ, ζ ~ N(0, 1)."""
        if self.loss == "square":
            return 1.0 - h, -s, (1.0 - h) ** 2 + s * s, 0.5 * ((1.0 - h) ** 2 + s * s)
        if self.loss == "hinge":
            c = (1.0 - h) / s
            cdf, pdf = norm.cdf(c), norm.pdf(c)
            return cdf, -pdf, cdf, (1.0 - h) * cdf + s * pdf
        z, w = np.polynomial.hermite_e.hermegauss(self.quadrature)
        z = jnp.asarray(z, h.dtype)
        w = jnp.asarray(w / w.sum(), h.dtype)
        v = h + s * z
        psi = margin_force("logistic", v)
        return w @ psi, w @ (psi * z), w @ (psi * psi), w @ margin_loss("logistic", v)

    def observe(self, state: MixtureState) -> Observation:
        """Test loss (the risk), overall and per-class test errors."""
        s = jnp.sqrt(self.delta.astype(state.q.dtype) * state.q)
        rho = self.rho.astype(state.q.dtype)
        err_plus = norm.cdf(-(state.m + state.b) / s)
        err_minus = norm.cdf(-(state.m - state.b) / s)
        loss_plus = self._class_moments(state.m + state.b, s)[3]
        loss_minus = self._class_moments(state.m - state.b, s)[3]
        return Observation(rho * loss_plus + (1 - rho) * loss_minus,
                           {"error": rho * err_plus + (1 - rho) * err_minus,
                            "error_plus": err_plus, "error_minus": err_minus}, state)

    def risk_label(self) -> str:
        """The y-axis label of the risk: the test loss of the chosen loss function."""
        return f"test {self.loss} loss"

    # ---------------------------------------------------------------- theory

    def initial_state(self, init=None) -> MixtureState:
        """`init` (a `MixtureState` or {m, q, b}; e.g. a simulation's measured state),
        `problem.init`, or m = 0, q = σ0², b = 0."""
        if init is None:
            init = self.init if self.init is not None else MixtureState(
                jnp.asarray(0.0), self.init_scale**2, jnp.asarray(0.0))
        state = _as_state(init, "init")
        check_state(state, "init")
        return state

    def parameter_groups(self) -> tuple[str, ...]:
        return ("weights", "bias")

    def metadata(self) -> dict:
        return {"init": "problem.init" if self.init is not None else
                _random_init_label(self.init_scale)}

    @classmethod
    def bench_case(cls, quick: bool = False) -> BenchCase:
        """Logistic loss, ρ = 0.2, Δ = 1, η = 0.5: t ∈ [0, 20] against 32 seeds at d = 1000
        (quick: d = 200, 8 seeds), at d = 1e4 extrapolated; the sweep over η ∈ [0.05, 2]."""
        d, seeds, big_d, points = (200, 8, 2000, 100) if quick else (1000, 32, 10_000, 1000)
        horizon = {"t": 20.0, "num_points": 100}
        return BenchCase(cls(0.2), SGD(0.5), horizon, {"d": d, "seeds": seeds}, "lr",
                         jnp.linspace(0.05, 2.0, points), horizon, big_d)

    def describe(self) -> str:
        w = [float(x) for x in self.class_weights]
        weights = "" if w == [1.0, 1.0] else f", ω=({w[0]:.3g}, {w[1]:.3g})"
        return (f"Gaussian mixture ρ={float(self.rho):g}, Δ={float(self.delta):g}, "
                f"{self.loss} loss{weights}")

    def increment_covariance(self, optimizer: SGD, state: MixtureState, t) -> Array:
        """D of the linear-noise expansion (`theory.fluctuations`; `_mixture_noise`)."""
        return _mixture_noise.increment_covariance(self, optimizer, state, t)

    def initial_covariance(self, state: MixtureState) -> Array:
        """d·Cov of (m, q, b) at the random start (`_mixture_noise`)."""
        return _mixture_noise.initial_covariance(self, state)



def _random_init_label(init_scale) -> str:
    """The metadata of a random start; a traced scale (under jit, vmap, grad) is not printed."""
    if is_concrete(init_scale) and np.ndim(init_scale) == 0:
        return f"random (init_scale={float(init_scale):g})"
    return "random (init_scale traced)"


@register_theory(GaussianMixture, SGD)
def sgd_theory(problem: GaussianMixture, optimizer: SGD, state: MixtureState, method: str) -> ODE:
    """The ODEs of docs/theory.md, Gaussian mixtures."""
    beta = optimizer.checked_momentum()

    def field(t, st, args):
        dtype = st.q.dtype
        scale = (1.0 - beta) * jnp.asarray(optimizer.batch, dtype)
        eta = optimizer.lr_at(t, "weights").astype(dtype) / scale
        eta_b = optimizer.lr_at(t, "bias").astype(dtype) / scale
        delta = problem.delta.astype(dtype)
        s = jnp.sqrt(delta * st.q)
        dm = dq = db = jnp.zeros_like(st.q)
        for y, p, omega in ((1.0, problem.rho, problem.class_weights[0]),
                            (-1.0, 1.0 - problem.rho, problem.class_weights[1])):
            p, omega = p.astype(dtype), omega.astype(dtype)
            a, g, c, _ = problem._class_moments(st.m + y * st.b, s)
            # E[φ] = ω y A, E[φ √Δ u] = ω s G (u = y ζ √q), E[φ²] = ω² C
            dm = dm + p * omega * (a + st.m * s / st.q * g)
            dq = dq + p * (2 * omega * (st.m * a + s * g) + eta * delta * omega**2 * c)
            db = db + p * omega * y * a
        return MixtureState(eta * dm, eta * dq, eta_b * db)

    return ODE(state, field, problem.observe, problem.divergence_floor(), "high-d ODE")


def check_state(state: MixtureState, name: str) -> None:
    """q > 0 and m² <= q (a covariance); b finite."""
    if not all(is_concrete(x) for x in (state.m, state.q, state.b)):
        return
    check_range(f"{name}.q", state.q, low=0.0, low_open=True)
    check_range(f"{name}.m", state.m)
    check_range(f"{name}.b", state.b)
    if float(state.m) ** 2 > float(state.q) * (1 + 1e-9):
        raise ValueError(f"{name}.m must satisfy m² <= q (got m = {float(state.m):g}, "
                         f"q = {float(state.q):g})")


def _as_state(value, name: str) -> MixtureState:
    if isinstance(value, MixtureState):
        return MixtureState(*(jnp.asarray(x, dtype=float) for x in (value.m, value.q, value.b)))
    if isinstance(value, Mapping) and set(value) == {"m", "q", "b"}:
        return MixtureState(*(jnp.asarray(value[k], dtype=float) for k in ("m", "q", "b")))
    raise ValueError(f"{name} must be a MixtureState(m, q, b) or a table {{m, q, b}} (got {value!r})")


__all__ = ["LOSSES", "GaussianMixture", "MixtureState", "margin_force", "margin_loss"]
