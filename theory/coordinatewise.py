r"""Coordinate-wise optimizers (Adam, RMSprop, sign-SGD) and their high-dimensional limit.

The update rules are optax's own (`optax.adam`, `optax.rmsprop`, `optax.sign_sgd`) applied in
the problem's input coordinates with the per-coordinate step $\eta\sqrt{s/d}$, s the family's
`gradient_scale` (least squares: η/d in θ units; the single-index model: η/√d in w units), so
that η is O(1) and t = samples/d, as for SGD (docs/theory.md, Coordinate-wise optimizers).

**The limit: fixed β as d → ∞.** The moment windows span O(1) steps, during which the weights
do not move, so the preconditioner of a coordinate is a random function of the last few
samples with a law set by the order parameters (Xiao, Marshall, Agarwala, Paquette, "Exact
risk curves of signSGD in high dimensions", arXiv 2411.12135, for sign-SGD; the Adam ODE of
github.com/nmarzz/adam, odes.py `AdamODE`, for its φ(B)). The drift of coordinate j is
φ × Cov(z_j, 𝓔)/sd(𝓔), and its noise s is the long-run mean square update per step (the
per-step one for RMSprop and sign-SGD; Adam's momentum correlates successive updates)
(`theory._window`). On least squares
with a diagonal covariance, with $\tilde a_i = d\,E[e_i^2]$ and $V = \frac1d\sum_j\lambda_j
\tilde a_j + \sigma^2$:

$d\tilde a_i/dt = -2\eta\,\phi\,\sqrt{\lambda_i}\,\tilde a_i/\sqrt V + \eta^2 s$.

A window of order d steps (1 − β2 ∝ 1/d) is another limit, with a deterministic lagging
preconditioner, that this theory does not cover (docs/theory.md measures where it breaks).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ._family import ODE, Observation
from ._theories import register_theory
from ._window import adam_noise, gaussian_window
from .checks import check_integer, check_range, checked, is_concrete
from .fields import Number
from .linreg import LinearRegression, ModeMoments
from .optim import BATCH, AbstractOptimizer, Rate, _lr_converter
from .single_index import SingleIndex, SingleIndexState, _derivative, polar_rule


class CoordinateWise(AbstractOptimizer):
    """A coordinate-wise rule: an optax transform of unit step, scaled per parameter group by
    $\\eta(t)\\sqrt{s/d}$ (module docstring). Subclasses give the transform and its window."""

    lr: Array | Callable = eqx.field(converter=_lr_converter)
    batch: int = eqx.field(default=1, static=True)

    def __check_init__(self):
        if not callable(self.lr):
            check_range(f"{type(self).__name__}.lr", self.lr, low=0.0, low_open=True)
        check_integer(f"{type(self).__name__}.batch", self.batch, low=1)

    def lr_at(self, t) -> Array:
        name = f"{type(self).__name__}.lr"
        if callable(self.lr):
            return checked(self.lr(t), f"{name} (schedule value)", low=0.0)
        return checked(self.lr * jnp.ones_like(jnp.asarray(t, dtype=float)), name,
                       low=0.0, low_open=True)

    def transform(self):
        """The optax transform at unit learning rate."""
        raise NotImplementedError

    def window(self) -> tuple[float, float, bool]:
        """(β1, β2, first moment absent) of the rule, for `theory._window`."""
        raise NotImplementedError

    def init(self, params, clock):
        return jnp.zeros((), jnp.int32), self.transform().init(params)

    def update(self, params, state, batch, clock):
        import optax

        count, inner = state
        updates, inner = self.transform().update(batch.gradient(params), inner, params)
        scale = batch.simulation.gradient_scale(batch.problem, params)
        eta = self.lr_at(clock.time(count))
        step = {name: (eta * math.sqrt(scale.get(name, 1.0) / batch.d)).astype(u.dtype) * u
                for name, u in updates.items()}
        return optax.apply_updates(params, step), (count + 1, inner)


class Adam(CoordinateWise):
    r"""Adam (optax.adam, bias-corrected): $w \leftarrow w - \eta\sqrt{s/d}\,\hat m/(\sqrt{\hat v}
    + \epsilon)$ per coordinate. `b1`, `b2` in [0, 1) are fixed numbers (the limit keeps them
    fixed as d grows); `eps` is optax's, in the family's gradient units (the theory needs 0)."""

    kind = "adam"
    labels = {"lr": "learning rate η", "batch": "batch size B"}
    config_fields = {"lr": Rate(), "batch": BATCH, "b1": Number(), "b2": Number(), "eps": Number()}
    b1: float = eqx.field(default=0.9, static=True, converter=float)
    b2: float = eqx.field(default=0.999, static=True, converter=float)
    eps: float = eqx.field(default=0.0, static=True, converter=float)

    def __check_init__(self):
        super().__check_init__()
        check_range("Adam.b1", self.b1, low=0.0, high=1.0, high_open=True)
        check_range("Adam.b2", self.b2, low=0.0, high=1.0, high_open=True)
        check_range("Adam.eps", self.eps, low=0.0)

    def transform(self):
        import optax
        return optax.adam(1.0, b1=self.b1, b2=self.b2, eps=self.eps)

    def window(self):
        return self.b1, self.b2, False

    def describe(self):
        return f"Adam η={_label(self.lr)}, β1={self.b1:g}, β2={self.b2:g}, B={self.batch}"


class RMSprop(CoordinateWise):
    r"""RMSprop (optax.rmsprop: $v \leftarrow \beta v + (1-\beta)g^2$ from v = 0, update
    $g/\sqrt{v + \epsilon}$, no bias correction) with `decay` β in [0, 1)."""

    kind = "rmsprop"
    labels = {"lr": "learning rate η", "batch": "batch size B"}
    config_fields = {"lr": Rate(), "batch": BATCH, "decay": Number(), "eps": Number()}
    decay: float = eqx.field(default=0.9, static=True, converter=float)
    eps: float = eqx.field(default=0.0, static=True, converter=float)

    def __check_init__(self):
        super().__check_init__()
        check_range("RMSprop.decay", self.decay, low=0.0, high=1.0, high_open=True)
        check_range("RMSprop.eps", self.eps, low=0.0)

    def transform(self):
        import optax
        return optax.rmsprop(1.0, decay=self.decay, eps=self.eps)

    def window(self):
        return 0.0, self.decay, True

    def describe(self):
        return f"RMSprop η={_label(self.lr)}, β={self.decay:g}, B={self.batch}"


class SignDescent(CoordinateWise):
    r"""Sign-SGD (optax.sign_sgd): $w \leftarrow w - \eta\sqrt{s/d}\,\mathrm{sign}(g)$."""

    kind = "sign_descent"
    labels = {"lr": "learning rate η", "batch": "batch size B"}
    config_fields = {"lr": Rate(), "batch": BATCH}

    def transform(self):
        import optax
        return optax.sign_sgd(1.0)

    def window(self):
        return 0.0, 0.0, True

    def describe(self):
        return f"sign-SGD η={_label(self.lr)}, B={self.batch}"


def _label(lr) -> str:
    return "schedule" if callable(lr) else f"{float(lr):.3g}"


# ---------------------------------------------------------------- theory


def _check_limit(problem, optimizer: CoordinateWise, method: str) -> None:
    """The fixed-β limit covers one sample per step and ε = 0 (host-side refusals)."""
    name = type(optimizer).__name__
    if optimizer.batch != 1:
        raise ValueError(f"{name}.batch must be 1 for the coordinate-wise limit (got "
                         f"{optimizer.batch}): a mean of B gradients is not a product of Gaussians")
    if getattr(optimizer, "eps", 0.0) != 0.0:
        raise ValueError(f"{name}.eps must be 0 for the coordinate-wise limit (got "
                         f"{optimizer.eps:g}); simulate it without a theory")


def _check_least_squares(problem: LinearRegression, optimizer, method: str) -> None:
    if problem.rotated:
        raise ValueError(f"LinearRegression.rotated: {type(optimizer).__name__}'s limit needs a "
                         "diagonal covariance (input basis = eigenbasis); this problem came from "
                         "a non-diagonal covariance")
    _check_limit(problem, optimizer, method)


@register_theory(LinearRegression, CoordinateWise, methods=("limit",), check=_check_least_squares)
def least_squares_theory(problem: LinearRegression, optimizer: CoordinateWise, state: ModeMoments,
                         method: str) -> ODE:
    """The per-eigenvalue ODE of the module docstring, φ and s of `theory._window`."""
    b1, b2, rms_only = optimizer.window()
    phi, s = gaussian_window(b1, b2, rms_only)
    if b1 > 0 and not rms_only:  # momentum correlates successive updates
        s = adam_noise(b1, b2)[0]
    lam, d = problem.spectrum, problem.d
    root_lam = jnp.sqrt(lam)
    noise_var = problem.noise**2

    def field(t, a, args):
        eta = optimizer.lr_at(t).astype(a.dtype)
        spread = jnp.sqrt(jnp.sum(lam * a) / d + noise_var)
        return -2 * eta * phi * root_lam * a / spread + eta**2 * s

    def observe(a):
        a = a / d
        return Observation(problem.risk(a), {}, ModeMoments(a))

    return ODE(state.a * d, field, observe, problem.divergence_floor(),
               f"high-d limit (fixed β: φ = {phi:.4f}, s = {s:.4f})")


def _check_single_index(problem: SingleIndex, optimizer, method: str) -> None:
    if not isinstance(optimizer, SignDescent):
        raise TypeError(f"the single-index theory covers SignDescent; {type(optimizer).__name__} "
                        "waits for windows over (m, q) (docs/theory.md, Coordinate-wise optimizers)")
    if problem.spherical or problem.loss != "square":
        raise ValueError("SingleIndex.spherical must be false and SingleIndex.loss 'square' for "
                         "the sign-SGD limit")
    if not is_concrete(problem.weight_decay) or float(problem.weight_decay) != 0:
        raise ValueError("SingleIndex.weight_decay must be 0 for the sign-SGD limit (the decay "
                         "enters the gradient before the sign)")
    _check_limit(problem, optimizer, method)


_NOISE_NODES = 16


@register_theory(SingleIndex, CoordinateWise, check=_check_single_index)
def single_index_sign_theory(problem: SingleIndex, optimizer: SignDescent,
                             state: SingleIndexState, method: str) -> ODE:
    r"""Sign-SGD on the single-index model (isotropic inputs): with $Q = (\lambda, \lambda^*)
    \sim N(0, B)$, $B = [[q, m], [m, 1]]$ and $A = \sqrt{2/\pi}\,B^{-1}E[\mathrm{sign}(\mathcal E)Q]$,
    $dm/dt = \eta(A_1 m + A_2) - \eta\kappa' m$, $dq/dt = 2\eta(A_1 q + A_2 m) +
    \eta^2 P(\mathcal E \ne 0)$ (docs/theory.md, Coordinate-wise optimizers)."""
    xi, wxi = np.polynomial.hermite_e.hermegauss(_NOISE_NODES)
    wxi = wxi / wxi.sum()

    def field(t, st, args):
        dtype = st.m.dtype
        eta = optimizer.lr_at(t).astype(dtype)
        m, q = st.m, st.q
        teacher, lam, w = polar_rule(m, q, problem.quadrature)
        y = problem.g(teacher)[:, None] + problem.noise.astype(dtype) * jnp.asarray(xi, dtype)[None, :]
        slope = _derivative(problem.sigma)(lam)
        err = (y - problem.sigma(lam)[:, None]) * slope[:, None]
        sign = jnp.sign(err) @ jnp.asarray(wxi, dtype)
        active = jnp.abs(jnp.sign(err)) @ jnp.asarray(wxi, dtype)
        e_lam, e_teacher = jnp.sum(w * sign * lam), jnp.sum(w * sign * teacher)
        det = q - m * m
        a1 = math.sqrt(2 / math.pi) * (e_lam - m * e_teacher) / det
        a2 = math.sqrt(2 / math.pi) * (q * e_teacher - m * e_lam) / det
        noise = jnp.sum(w * active)
        return SingleIndexState(eta * (a1 * m + a2), 2 * eta * (a1 * q + a2 * m) + eta**2 * noise)

    return ODE(state, field, problem.observe, problem.divergence_floor(), "high-d limit (sign-SGD)")


__all__ = ["Adam", "CoordinateWise", "RMSprop", "SignDescent"]
