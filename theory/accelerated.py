r"""Linear first-order methods beyond heavy ball: Nesterov momentum, accelerated SGD (Jain et
al.) and iterate averaging (Polyak–Ruppert and tail), as optax-form update rules.

Each is a linear method on least squares, so its exact finite-d theory is the per-mode block
recursion of docs/theory.md, Least squares: more optimizers (`theory.linreg`). The steps are in
the family's scaled parametrisation, as for `SGD`: a step subtracts lr × the mean gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from . import schedules
from .checks import check_integer, check_range, checked
from .fields import Codec, Number
from .optim import (
    BATCH,
    AbstractOptimizer,
    Rate,
    _batch_converter,
    _describe_lr,
    _float_converter,
    _lr_converter,
    optimizer_from_config,
)


class _Stepped(AbstractOptimizer):
    """Shared plumbing: a rate `lr` (number or schedule of t) and a `batch` of fresh samples."""

    rotation_invariant = True
    lr: jax.Array | Callable = eqx.field(converter=_lr_converter)
    batch: int | jax.Array = eqx.field(converter=_batch_converter)

    def _check_lr_and_batch(self):
        name = type(self).__name__
        if not callable(self.lr):
            check_range(f"{name}.lr", self.lr, low=0.0, low_open=True)
        check_integer(f"{name}.batch", self.batch, low=1)

    def lr_at(self, t) -> jax.Array:
        """The rate at time `t` (checked when traced)."""
        name = f"{type(self).__name__}.lr"
        if callable(self.lr):
            return checked(self.lr(t), f"{name} (schedule value)", low=0.0)
        return checked(self.lr * jnp.ones_like(jnp.asarray(t, dtype=float)), name, low=0.0,
                       low_open=True)

    def piecewise_schedule(self, pieces: int, t_max: float):
        if callable(self.lr):
            raise ValueError(f"start the schedule from a constant {type(self).__name__}.lr")
        flat = schedules.piecewise_constant(jnp.full(pieces, float(self.lr)), t_max=t_max)
        return eqx.tree_at(lambda o: o.lr, self, flat), "lr.values"



class Nesterov(_Stepped):
    r"""Mini-batch SGD with Nesterov momentum (docs/theory.md, Least squares: more optimizers).

    optax's form, `scale_by_schedule(-η(t))` then `trace(β, nesterov=True)`:
    $m_{k+1} = \beta m_k - \eta\hat g(w_k)$, $w_{k+1} = w_k + \beta m_{k+1} - \eta\hat g(w_k)$.
    This is Nesterov's method $x_{k+1} = y_k - \eta\hat g(y_k)$,
    $y_{k+1} = x_{k+1} + \beta(x_{k+1} - x_k)$ written in the look-ahead point $w = y$, whose
    risk is the one recorded.

    **Arguments:** `lr` η > 0 (or a schedule of t), `batch` B >= 1, `momentum` β in [0, 1).
    """

    kind = "nesterov"
    config_fields = {"lr": Rate(), "batch": BATCH, "momentum": Number()}
    labels = {"lr": "learning rate η", "batch": "batch size B", "momentum": "Nesterov β"}
    diagram_axes = ("lr", "batch")
    momentum: jax.Array = eqx.field(converter=jnp.asarray)

    def __init__(self, lr, batch=1, momentum=0.9):
        self.lr, self.batch, self.momentum = lr, batch, momentum

    def __check_init__(self):
        self._check_lr_and_batch()
        check_range("Nesterov.momentum", self.momentum, low=0.0, high=1.0, high_open=True)

    def checked_momentum(self) -> jax.Array:
        """The momentum, checked to lie in [0, 1)."""
        return checked(self.momentum, "Nesterov.momentum", low=0.0, high=1.0, high_open=True)

    def _transform(self, clock, params):
        import optax

        beta = self.checked_momentum().astype(jnp.result_type(*jax.tree.leaves(params)))
        rate = lambda count: -self.lr_at(clock.time(count))
        return optax.chain(optax.scale_by_schedule(rate), optax.trace(decay=beta, nesterov=True))

    def describe(self) -> str:
        return (f"Nesterov η={_describe_lr(self.lr)}, B={int(self.batch)}, "
                f"momentum={float(self.momentum):g}")



class ASGD(_Stepped):
    r"""Accelerated SGD of Jain, Kakade, Kidambi, Netrapalli, Sidford, "Accelerating stochastic
    gradient descent for least squares regression", COLT 2018 (arXiv 1704.08227), Algorithm 1
    (docs/theory.md, Least squares: more optimizers). With $v_0 = w_0$, each step

    $u = \alpha w + (1-\alpha) v$, $w' = u - \delta\,\hat g(u)$,
    $v' = \beta u + (1-\beta) v - \gamma\,\hat g(u)$;

    the recorded risk is that of $w$. α = 1 is plain SGD with step δ.

    **Arguments:** `lr` the short step δ > 0 (or a schedule of t), `long_lr` the long step
    γ >= 0 (both in the family's lr scaling), `alpha` in (0, 1], `beta` in [0, 1],
    `batch` B >= 1. (The paper's choice from the condition numbers κ, κ̃ is not built in:
    give the four numbers.)
    """

    kind = "asgd"
    config_fields = {"lr": Rate(), "long_lr": Number(), "alpha": Number(), "beta": Number(),
                     "batch": BATCH}
    labels = {"lr": "short step δ", "long_lr": "long step γ", "alpha": "α", "beta": "β",
              "batch": "batch size B"}
    diagram_axes = ("lr", "batch")
    long_lr: jax.Array = eqx.field(converter=_float_converter)
    alpha: jax.Array = eqx.field(converter=_float_converter)
    beta: jax.Array = eqx.field(converter=_float_converter)

    def __init__(self, lr, long_lr, alpha, beta, batch=1):
        self.lr, self.long_lr, self.alpha, self.beta, self.batch = lr, long_lr, alpha, beta, batch

    def __check_init__(self):
        self._check_lr_and_batch()
        check_range("ASGD.long_lr", self.long_lr, low=0.0)
        check_range("ASGD.alpha", self.alpha, low=0.0, high=1.0, low_open=True)
        check_range("ASGD.beta", self.beta, low=0.0, high=1.0)

    def checked_params(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """(long_lr, alpha, beta), checked when traced."""
        return (checked(self.long_lr, "ASGD.long_lr", low=0.0),
                checked(self.alpha, "ASGD.alpha", low=0.0, high=1.0, low_open=True),
                checked(self.beta, "ASGD.beta", low=0.0, high=1.0))

    def init(self, params, clock):
        return {"v": params, "count": jnp.zeros((), jnp.int32)}

    def update(self, params, state, batch, clock):
        long_lr, alpha, beta = self.checked_params()
        short = self.lr_at(clock.time(state["count"]))
        mix = lambda w, v: (alpha * w + (1 - alpha) * v).astype(w.dtype)
        u = jax.tree.map(mix, params, state["v"])
        g = batch.gradient(u)
        w = jax.tree.map(lambda u_, g_: (u_ - short * g_).astype(u_.dtype), u, g)
        v = jax.tree.map(lambda u_, v_, g_: (beta * u_ + (1 - beta) * v_ - long_lr * g_).astype(u_.dtype),
                         u, state["v"], g)
        return w, {"v": v, "count": state["count"] + 1}

    def describe(self) -> str:
        return (f"ASGD δ={_describe_lr(self.lr)}, γ={float(self.long_lr):.4g}, "
                f"α={float(self.alpha):.3g}, β={float(self.beta):.3g}, B={int(self.batch)}")



class _BaseOptimizer(Codec):
    """The averaged optimizer's own table, `base = { kind = "sgd", lr = 1.0 }`."""

    def read(self, table, key, given):
        base = table.table(key)
        if base is None:
            table.fail(key, "missing required table (the averaged optimizer, e.g. "
                            "{ kind = \"sgd\", lr = 1.0 })")
        return optimizer_from_config(base)

    def encode(self, value):
        return value.to_config()


class Averaged(AbstractOptimizer):
    r"""Iterate averaging of a base optimizer (docs/theory.md, Least squares: more optimizers).

    The base runs unchanged; the recorded parameters are the running mean of its iterates
    $w_j$ over the steps $j \ge k_s = \lceil t_s d / B\rceil$ (before $k_s$, the iterate
    itself): `start = 0` is Polyak–Ruppert averaging, `start = t_s > 0` tail averaging from
    t = t_s (e.g. half the horizon).

    **Arguments:** `base` (e.g. `SGD(...)`), `start` t_s >= 0 in samples/d.
    """

    kind = "averaged"
    labels = {"start": "averaging from t"}
    config_fields = {"base": _BaseOptimizer(), "start": Number()}
    base: AbstractOptimizer
    start: jax.Array = eqx.field(default=0.0, converter=_float_converter)

    def __check_init__(self):
        if not isinstance(self.base, AbstractOptimizer) or isinstance(self.base, Averaged):
            raise TypeError(f"Averaged.base must be an optimizer other than Averaged "
                            f"(got {type(self.base).__name__})")
        check_range("Averaged.start", self.start, low=0.0)

    @property
    def batch(self):
        """The batch size of the averaged base optimizer."""
        return self.base.batch

    @property
    def rotation_invariant(self) -> bool:  # type: ignore[override]
        return self.base.rotation_invariant

    def samples_per_step(self, d: int) -> int:
        return self.base.samples_per_step(d)

    def step_clock(self, d):
        return self.base.step_clock(d)

    def start_step(self, clock) -> jax.Array:
        """k_s: the first averaged step, ceil(t_s d / samples)."""
        start = checked(self.start, "Averaged.start", low=0.0)
        return jnp.ceil(start * clock.d / clock.samples - 1e-9)

    def weight(self, k, clock) -> jax.Array:
        """The weight of the new iterate $w_{k+1}$ in the mean: 1/max(1, k + 2 - k_s)."""
        return 1.0 / jnp.maximum(1.0, k + 2.0 - self.start_step(clock))

    def init(self, params, clock):
        return {"base": self.base.init(params, clock), "mean": params,
                "count": jnp.zeros((), jnp.int32)}

    def update(self, params, state, batch, clock):
        params, inner = self.base.update(params, state["base"], batch, clock)
        w = self.weight(state["count"], clock)
        mean = jax.tree.map(lambda m, p: (m + w * (p - m)).astype(p.dtype), state["mean"], params)
        return params, {"base": inner, "mean": mean, "count": state["count"] + 1}

    def evaluated(self, params, state):
        return state["mean"]

    def describe(self) -> str:
        what = "Polyak–Ruppert" if float(self.start) == 0 else f"tail from t={float(self.start):g}"
        return f"{self.base.describe()}, averaged ({what})"



__all__ = ["Nesterov", "ASGD", "Averaged"]
