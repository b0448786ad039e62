r"""Single-index models (GLMs) under online SGD: the ODEs of the overlaps (m, q).

Teacher $y = g(\lambda^*) + \sigma\xi$, $\lambda^* = w^*\cdot x/\sqrt d$, $\|w^*\|^2 = d$; student
$f = \sigma_s(\lambda)$, $\lambda = w\cdot x/\sqrt d$; $x \sim N(0, I_d)$. Order parameters
$m = w\cdot w^*/d$, $q = \|w\|^2/d$; $(\lambda, \lambda^*) \sim N(0, [[q, m], [m, 1]])$.
docs/theory.md, Single-index models; Saad & Solla, PRE 52:4225 (1995); Ben Arous, Gheissari,
Jagannath, arXiv 2003.10409 (2021); Arnaboldi, Stephan, Krzakala, Loureiro, arXiv 2302.05882.

**Learning-rate scaling.** With $\mathcal E = -\partial_f \ell\, \sigma_s'(\lambda)$ (square
loss: $(y - f)\sigma_s'$; logistic loss for ±1 labels: $y\,\mathrm{sigmoid}(-yf)\,\sigma_s'$),
`SGD(lr=η, batch=B, momentum=β)` takes $w \leftarrow w + \frac{\eta}{\sqrt d}\overline{\mathcal E
x} - \frac{\eta\kappa}{d} w$ (κ the weight decay), i.e. η times the gradient in the group
"weights"; t = samples/d. With $\eta' = \eta/(B(1-\beta))$:
$dm/dt = \eta' E[\mathcal E\lambda^*] - \eta'\kappa m$,
$dq/dt = 2\eta' E[\mathcal E\lambda] + \eta'^2 E[\mathcal E^2] - 2\eta'\kappa q$.
Spherical SGD ($w$ renormalised to $\|w\|^2 = d$ after every step): $q = 1$ and
$dm/dt = \eta' E[\mathcal E(\lambda^* - m\lambda)] - \tfrac12\eta'^2 m E[\mathcal E^2]$.

Expectations: closed forms for the matched pairs linear/linear, quadratic/quadratic (phase
retrieval) and erf/erf (the committee integrals of `theory._activations`; relu/relu for the
risk), and otherwise a 2-D rule in polar coordinates split at the kinks of relu and sign
(`polar_rule`, `quadrature` nodes), exact to ~1e-12 for these links.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from . import _single_index_noise
from ._activations import Erf, Relu
from ._family import ODE, AbstractProblem, BenchCase, Observation
from ._links import hermite_coefficients, information_exponent, link_name, make_link
from ._theories import register_theory
from .checks import check_integer, check_range, is_concrete
from .fields import Boolean, Configurable, Integer, Nested, Number, String
from .optim import SGD
from .protocols import DEFAULT_RISK_LABEL

LOSSES = ("square", "logistic")
DEFAULT_QUADRATURE = 48
_ODD_INCREASING = ("linear", "erf", "tanh", "he1")
_R_MAX = 12.0  # radius of the polar rule, in standard deviations


class SingleIndexState(eqx.Module, Configurable):
    r"""$m = w\cdot w^*/d$ and $q = \|w\|^2/d$ (leading axes: time, seeds)."""

    config_fields = {"m": Number(), "q": Number()}
    m: Array
    q: Array


def _safe_sqrt(x):
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _derivative(f: Callable) -> Callable:
    return lambda x: jax.jvp(f, (x,), (jnp.ones_like(x),))[1]


class SingleIndex(AbstractProblem):
    r"""A single-index teacher learned by a one-neuron student (docs/theory.md, Single-index
    models).

    **Arguments:**

    - `link`: the teacher's g: "linear", "relu", "erf", "tanh", "sign", "quadratic" (phase
      retrieval), "he<k>" (normalised Hermite $He_k/\sqrt{k!}$) or a callable.
    - `activation`: the student's σ (same names; not "sign", whose derivative vanishes);
      default: the link.
    - `loss`: "square" or "logistic" (±1 labels: needs link "sign" and noise 0).
    - `noise`: label-noise standard deviation σ >= 0 (the risk excludes it).
    - `weight_decay`: κ >= 0 (not with `spherical`).
    - `spherical`: renormalise w to ‖w‖² = d after every step (then q = 1).
    - `init_scale`: σ0 > 0 of a random start $w \sim N(0, \sigma_0^2 I_d)$ (spherical: then
      normalised): each simulated seed draws its own; the theory starts at m = 0, q = σ0²
      (q = 1 on the sphere).
    - `init`: the initial (m, q), a `SingleIndexState` or a table {m, q}, shared by the theory
      and every simulated seed; None for the random start.
    - `quadrature`: Gauss–Hermite nodes per axis for pairs without closed forms.
    """

    family = "single_index"
    methods = {"limit": "ode"}
    ode_tolerances = (1e-8, 1e-10, 200_000)
    observable_labels = {"alignment": r"alignment $|m|/\sqrt{q}$",
                         "error": "test error (logistic loss)"}
    config_fields = {"link": String(name=link_name), "activation": String(name=link_name),
                     "loss": String(LOSSES), "noise": Number(), "weight_decay": Number(),
                     "spherical": Boolean(), "init_scale": Number(),
                     "init": Nested(lambda: SingleIndexState), "quadrature": Integer()}
    link: str | Callable = eqx.field(static=True)
    activation: str | Callable = eqx.field(static=True)
    loss: str = eqx.field(static=True)
    noise: Array
    weight_decay: Array
    spherical: bool = eqx.field(static=True)
    init_scale: Array
    init: SingleIndexState | None
    quadrature: int = eqx.field(static=True)

    def __init__(self, link="relu", activation=None, loss="square", noise=0.0, weight_decay=0.0,
                 spherical=False, init_scale=0.5, init=None, quadrature=DEFAULT_QUADRATURE):
        make_link(link, "SingleIndex.link")
        activation = link if activation is None else activation
        make_link(activation, "SingleIndex.activation")
        if isinstance(activation, str) and activation == "sign":
            raise ValueError("SingleIndex.activation must not be 'sign' (its derivative is zero "
                             "almost everywhere: SGD would not move); use it as the link")
        if loss not in LOSSES:
            raise ValueError(f"SingleIndex.loss must be one of {', '.join(LOSSES)} (got {loss!r})")
        if not isinstance(spherical, (bool, np.bool_)):
            raise ValueError(f"SingleIndex.spherical must be true or false (got {spherical!r})")
        check_integer("SingleIndex.quadrature", quadrature, low=2)
        self.link, self.activation, self.loss = link, activation, loss
        self.noise = jnp.asarray(noise, dtype=float)
        self.weight_decay = jnp.asarray(weight_decay, dtype=float)
        self.spherical = bool(spherical)
        self.init_scale = jnp.asarray(init_scale, dtype=float)
        self.init = None if init is None else _as_state(init, "SingleIndex.init")
        self.quadrature = int(quadrature)

    def __check_init__(self):
        check_range("SingleIndex.noise", self.noise, low=0.0)
        check_range("SingleIndex.weight_decay", self.weight_decay, low=0.0)
        check_range("SingleIndex.init_scale", self.init_scale, low=0.0, low_open=True)
        if self.loss == "logistic":
            if self.link != "sign":
                raise ValueError("SingleIndex.link must be 'sign' for the logistic loss (it needs "
                                 f"±1 labels; got {link_name(self.link)!r})")
            if is_concrete(self.noise) and float(self.noise) != 0:
                raise ValueError("SingleIndex.noise must be 0 for the logistic loss (the labels "
                                 "are the teacher's signs)")
        if self.spherical and is_concrete(self.weight_decay) and float(self.weight_decay) != 0:
            raise ValueError("SingleIndex.weight_decay must be 0 when spherical (the norm is fixed)")
        if self.init is not None:
            self.check_state(self.init, "SingleIndex.init")

    # ---------------------------------------------------------------- helpers

    @property
    def g(self) -> Callable:
        """The teacher link g as a callable."""
        return make_link(self.link, "link")

    @property
    def sigma(self) -> Callable:
        """The student activation σ as a callable."""
        return make_link(self.activation, "activation")

    def information_exponent(self) -> int:
        """The link's information exponent (`theory.information_exponent`)."""
        return information_exponent(self.link)

    def check_state(self, state: SingleIndexState, name: str) -> None:
        """q > 0 and m² <= q (a covariance); q = 1 on the sphere; m = 0 only if the theory
        can leave it (information exponent 1)."""
        if not all(is_concrete(x) for x in (state.m, state.q)):
            return
        m, q = float(state.m), float(state.q)
        check_range(f"{name}.q", state.q, low=0.0, low_open=True)
        check_range(f"{name}.m", state.m)
        if m * m > q * (1 + 1e-9):
            raise ValueError(f"{name}.m must satisfy m² <= q (Cauchy–Schwarz; got m = {m:g}, q = {q:g})")
        if self.spherical and abs(q - 1.0) > 1e-4:
            raise ValueError(f"{name}.q must be 1 for a spherical run (got {q:g})")
        if m == 0.0 and abs(hermite_coefficients(self.link, 1)[1]) < 1e-6:
            raise ValueError(
                f"{name}.m = 0 exactly: the link {link_name(self.link)!r} has no linear Hermite "
                "component (information exponent >= 2), so m = 0 is a fixed point and the theory "
                "cannot leave it; start from the finite-d overlap m0 ~ 1/sqrt(d) (e.g. [theory] "
                "init = \"per_seed\", every simulated seed's own m0)")

    def expectations(self, m: Array, q: Array) -> tuple[Array, Array, Array, Array]:
        r"""$(E[\mathcal E\lambda^*], E[\mathcal E\lambda], E[\mathcal E^2], \text{risk})$ at
        (m, q), label noise included in $E[\mathcal E^2]$ (docs/theory.md, Single-index models)."""
        var = self.noise.astype(m.dtype) ** 2
        pair = (self.link, self.activation) if isinstance(self.link, str) and \
            isinstance(self.activation, str) and self.loss == "square" else None
        if pair == ("linear", "linear"):
            return 1.0 - m, m - q, 1.0 - 2 * m + q + var, 0.5 * (1.0 - 2 * m + q)
        if pair == ("quadratic", "quadratic"):
            m2 = m * m
            return (6 * m * (1.0 - q), 2 * (q + 2 * m2 - 3 * q * q),
                    4 * (3 * q + 12 * m2 - 6 * q * q - 24 * m2 * q + 15 * q**3) + 4 * var * q,
                    0.5 * (3.0 - 2 * q - 4 * m2 + 3 * q * q))
        if pair == ("erf", "erf"):
            return _matched(Erf(), m, q, var)
        return self._quadrature(m, q, var)

    def risk(self, m: Array, q: Array) -> Array:
        """The risk alone (cheaper than `expectations` where a closed form exists)."""
        pair = (self.link, self.activation) if self.loss == "square" else None
        if pair in (("erf", "erf"), ("relu", "relu")):
            act = Erf() if pair[0] == "erf" else Relu()
            one = jnp.ones_like(q)
            return 0.5 * (act.i2(one, one, one) - 2 * act.i2(q, m, one) + act.i2(q, q, q))
        return self.expectations(m, q)[3]

    def _quadrature(self, m, q, var):
        teacher, lam, weight = polar_rule(m, q, self.quadrature)
        y, f, df = self.g(teacher), self.sigma(lam), _derivative(self.sigma)(lam)
        if self.loss == "square":
            err = (y - f) * df
            err2 = (y - f) ** 2 * df**2 + var * df**2
            loss = 0.5 * (y - f) ** 2
        else:
            err = y * jax.nn.sigmoid(-y * f) * df
            err2 = err**2
            loss = jax.nn.softplus(-y * f)
        mean = lambda v: jnp.sum(weight * v)
        return mean(err * teacher), mean(err * lam), mean(err2), mean(loss)

    def observe(self, state: SingleIndexState) -> Observation:
        """Risk (square loss: ½E[(g − σ)²] on clean labels; logistic: the test loss), the
        alignment |m|/√q and, for logistic loss with an odd increasing σ, the test error."""
        m, q = state.m, state.q
        risk = self.risk(m, q)
        cos = jnp.abs(m) / jnp.sqrt(q)
        extras = {"alignment": cos}
        if self.loss == "logistic" and self.activation in _ODD_INCREASING:
            extras["error"] = jnp.arccos(jnp.clip(m / jnp.sqrt(q), -1.0, 1.0)) / math.pi
        return Observation(risk, extras, state)

    def risk_label(self) -> str:
        """The y-axis label: the test logistic loss, or the default squared risk."""
        if self.loss == "logistic":
            return r"test loss  $E[\log(1 + e^{-y f})]$"
        return DEFAULT_RISK_LABEL

    # ---------------------------------------------------------------- theory

    def initial_state(self, init=None) -> SingleIndexState:
        """`init` (a `SingleIndexState` or {m, q}; e.g. a simulation's measured overlaps),
        `problem.init`, or m = 0, q = σ0² (q = 1 on the sphere)."""
        if init is None:
            init = self.init if self.init is not None else SingleIndexState(
                jnp.asarray(0.0), jnp.asarray(1.0) if self.spherical else self.init_scale**2)
        state = _as_state(init, "init")
        if self.spherical:
            state = SingleIndexState(state.m, jnp.ones_like(state.q)) \
                if is_concrete(state.q) and abs(float(state.q) - 1) <= 1e-4 else state
        self.check_state(state, "init")
        return state

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise**2)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("weights",)

    def stability_limit(self, optimizer: SGD, method: str | None = None):
        """The ODE's (the one method) for a linear link and student, square loss, no decay:
        η' < 2, i.e. η < 2B(1 − β); None otherwise."""
        if (self.link, self.activation, self.loss, self.spherical) == ("linear", "linear", "square", False) \
                and not callable(optimizer.lr) and float(self.weight_decay) == 0:
            return 2.0 * jnp.asarray(optimizer.batch, float) * (1.0 - optimizer.momentum)
        return None

    def metadata(self) -> dict:
        return {"information_exponent": self.information_exponent(),
                "init": "problem.init" if self.init is not None else
                _random_init_label(self.init_scale)}

    @classmethod
    def bench_case(cls, quick: bool = False) -> BenchCase:
        """ReLU teacher and student, η = 0.5, t ∈ [0, 10] against 32 seeds at d = 1000
        (quick: d = 200, 8 seeds), at d = 1e4 extrapolated; the sweep over η ∈ [0.05, 1.5]."""
        d, seeds, big_d, points = (200, 8, 2000, 100) if quick else (1000, 32, 10_000, 1000)
        horizon = {"t": 10.0, "num_points": 100}
        return BenchCase(cls("relu"), SGD(0.5), horizon, {"d": d, "seeds": seeds}, "lr",
                         jnp.linspace(0.05, 1.5, points), horizon, big_d)

    def describe(self) -> str:
        names = f"{link_name(self.link)}→{link_name(self.activation)}"
        extra = ", spherical" if self.spherical else ""
        extra += f", κ={float(self.weight_decay):g}" if float(self.weight_decay) else ""
        return f"single-index {names}, {self.loss} loss, σ={float(self.noise):g}{extra}"

    # ---------------------------------------------------------------- finite-d spread

    def increment_covariance(self, optimizer: SGD, state: SingleIndexState, t) -> Array:
        """D of the linear-noise expansion (`theory.fluctuations`; `_single_index_noise`)."""
        return _single_index_noise.increment_covariance(self, optimizer, state, t)

    def initial_covariance(self, state: SingleIndexState) -> Array:
        """d·Cov of (m, q) at the random start (`_single_index_noise`)."""
        return _single_index_noise.initial_covariance(self, state)



def _random_init_label(init_scale) -> str:
    """The metadata of a random start; a traced scale (under jit, vmap, grad) is not printed."""
    if is_concrete(init_scale) and np.ndim(init_scale) == 0:
        return f"random (init_scale={float(init_scale):g})"
    return "random (init_scale traced)"


@register_theory(SingleIndex, SGD)
def sgd_theory(problem: SingleIndex, optimizer: SGD, state: SingleIndexState, method: str) -> ODE:
    """The ODEs of the module docstring (spherical: plain SGD, momentum 0)."""
    beta = optimizer.checked_momentum()
    if problem.spherical:  # traced under predict's jit: a run-time error
        beta = eqx.error_if(beta, beta != 0, "SGD.momentum must be 0 for a spherical "
                            "single-index run (the theory covers projected plain SGD)")

    def field(t, s, args):
        dtype = s.m.dtype
        eta = optimizer.lr_at(t, "weights").astype(dtype) / (1.0 - beta) / \
            jnp.asarray(optimizer.batch, dtype)
        a, b, c, _ = problem.expectations(s.m, s.q)
        if problem.spherical:
            return SingleIndexState(eta * (a - s.m * b) - 0.5 * eta**2 * s.m * c,
                                    jnp.zeros_like(s.q))
        kappa = problem.weight_decay.astype(dtype)
        return SingleIndexState(eta * a - eta * kappa * s.m,
                                2 * eta * b + eta**2 * c - 2 * eta * kappa * s.q)

    label = "high-d ODE" + (" (spherical)" if problem.spherical else "")
    return ODE(state, field, problem.observe, problem.divergence_floor(), label)


def polar_rule(m: Array, q: Array, n: int) -> tuple[Array, Array, Array]:
    r"""Nodes (λ*, λ) and weights for E over $(\lambda, \lambda^*) \sim N(0, [[q, m], [m, 1]])$.

    In polar coordinates of the standard pair (z1, z2), $\lambda^* = z_1 = r\cos\theta$,
    $\lambda = r\sqrt q\cos(\theta - \theta_0)$: kinks of functions of λ or λ* at 0 (relu,
    sign) lie on four rays, so the angle is split there into arcs, each with an n/2-point
    Gauss–Legendre rule, and the radius has an n-point Gauss–Legendre rule on [0, 12]
    (weight $r e^{-r^2/2}/2\pi$). Smooth on every cell: exponential convergence (a plain
    Gauss–Hermite rule converges algebraically across kinks, ~4e-3 at 48² nodes for relu)."""
    dtype = m.dtype
    s = _safe_sqrt(q - m * m)
    theta0 = jnp.arctan2(s, m)
    half = jnp.asarray(math.pi / 2, dtype)
    cuts = jnp.sort(jnp.mod(jnp.stack([half, 3 * half, theta0 + half, theta0 - half]), 2 * math.pi))
    ends = jnp.concatenate([cuts[1:], cuts[:1] + 2 * math.pi])
    xa, wa = np.polynomial.legendre.leggauss(max(2, n // 2))
    xr, wr = np.polynomial.legendre.leggauss(n)
    width = ends - cuts
    theta = (cuts[:, None] + width[:, None] * (jnp.asarray(xa, dtype)[None, :] + 1) / 2).ravel()
    w_theta = (width[:, None] * jnp.asarray(wa, dtype)[None, :] / 2).ravel()
    r = jnp.asarray(_R_MAX * (xr + 1) / 2, dtype)
    w_r = jnp.asarray(_R_MAX * wr / 2, dtype) * r * jnp.exp(-r * r / 2) / (2 * math.pi)
    z1 = (r[:, None] * jnp.cos(theta)[None, :]).ravel()
    z2 = (r[:, None] * jnp.sin(theta)[None, :]).ravel()
    return z1, m * z1 + s * z2, (w_r[:, None] * w_theta[None, :]).ravel()


def _matched(act, m, q, var):
    r"""Teacher = student = `act` (erf or relu): the committee integrals $I_2, I_3, I_4$ over
    the fields (λ, λ*) (docs/theory.md, Committee machines)."""
    cov2 = jnp.stack([jnp.stack([q, m]), jnp.stack([m, jnp.ones_like(q)])])

    def sub(*idx):
        idx = np.asarray(idx)
        return cov2[idx[:, None], idx[None, :]]

    L, T = 0, 1
    i3 = lambda b, c: act.i3(sub(L, b, c))
    i4 = lambda c, e: act.i4(sub(L, L, c, e))
    i2 = lambda a, c: act.i2(cov2[a, a], cov2[a, c], cov2[c, c])
    err_teacher = i3(T, T) - i3(T, L)
    err_student = i3(L, T) - i3(L, L)
    _, _, dd = act.price(q, q, q)
    err2 = i4(T, T) - 2 * i4(L, T) + i4(L, L) + var * dd
    risk = 0.5 * (i2(T, T) - 2 * i2(L, T) + i2(L, L))
    return err_teacher, err_student, err2, risk


def _as_state(value, name: str) -> SingleIndexState:
    if isinstance(value, SingleIndexState):
        return SingleIndexState(jnp.asarray(value.m, dtype=float), jnp.asarray(value.q, dtype=float))
    if isinstance(value, Mapping) and set(value) == {"m", "q"}:
        return SingleIndexState(jnp.asarray(value["m"], dtype=float), jnp.asarray(value["q"], dtype=float))
    raise ValueError(f"{name} must be a SingleIndexState(m, q) or a table {{m, q}} (got {value!r})")


__all__ = [
    "LOSSES",
    "SingleIndex",
    "SingleIndexState",
    "hermite_coefficients",
    "information_exponent",
]
