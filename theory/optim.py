"""Optimizers: the algorithms whose learning curves hild predicts.

An optimizer states the algorithm in macroscopic terms; each family documents how its
learning rate is scaled with d (THEORY.md §0: pre-activations carry 1/√d, so an O(1)
learning rate moves the order parameters by O(1) per unit of t = samples/d).
"""

from __future__ import annotations

import abc
from typing import ClassVar
from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from . import schedules
from ._checks import check_integer, check_range, checked, is_concrete
from ._config import Table


def _lr_converter(lr):
    return lr if callable(lr) else jnp.asarray(lr)


def _float_converter(x):
    return jnp.asarray(x, dtype=jnp.result_type(float))


def _batch_converter(batch):
    # A Python int stays static (it sets array shapes in simulations); an array stays a
    # leaf so the theory can vmap over batch sizes.
    if isinstance(batch, (int, float)) and not isinstance(batch, bool) and float(batch).is_integer():
        return int(batch)
    return jnp.asarray(batch)


_OPTIMIZERS: dict[str, type["AbstractOptimizer"]] = {}


class AbstractOptimizer(eqx.Module):
    """An optimizer whose learning curve some family of hild can predict."""

    kind: ClassVar[str]
    iteration_fields: ClassVar[tuple[str, ...]] = ()
    """Fields that must be concrete to turn a horizon in t into a number of iterations
    (a vmapped search groups candidates by their values)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if isinstance(kind, str):
            _OPTIMIZERS[kind] = cls

    @abc.abstractmethod
    def to_config(self) -> dict:
        """A TOML-ready table (`from_config` reads it back)."""

    @classmethod
    @abc.abstractmethod
    def from_config(cls, table: Table) -> "AbstractOptimizer":
        """Build the optimizer from a config table, naming any bad field."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A short label with the hyperparameters (for legends)."""


class SGD(AbstractOptimizer):
    r"""Online mini-batch SGD with heavy-ball momentum (THEORY.md §0).

    $w_{k+1} = w_k - \eta(t_k)\,\hat g_k + \beta (w_k - w_{k-1})$, with $\hat g_k$ the mean
    gradient over `batch` fresh samples in the family's scaled parametrisation and
    $t_k = k B / d$.

    **Arguments:**

    - `lr`: learning rate $\eta > 0$ (O(1) in the family's scaling), or a schedule: a
      callable of t = samples/d (see `theory.schedules`).
    - `batch`: fresh samples per step, $B \ge 1$.
    - `momentum`: heavy-ball coefficient $\beta \in [0, 1)$.
    """

    kind = "sgd"
    lr: Array | Callable = eqx.field(converter=_lr_converter)
    batch: int | Array = eqx.field(default=1, converter=_batch_converter)
    momentum: Array = eqx.field(default=0.0, converter=jnp.asarray)

    def __check_init__(self):
        if not callable(self.lr):
            check_range("SGD.lr", self.lr, low=0.0, low_open=True)
        check_integer("SGD.batch", self.batch, low=1)
        check_range("SGD.momentum", self.momentum, low=0.0, high=1.0, high_open=True)

    def lr_at(self, t) -> Array:
        """The learning rate at time `t` (a run-time check when traced)."""
        if callable(self.lr):  # a schedule may decay to 0
            return checked(self.lr(t), "SGD.lr (schedule value)", low=0.0)
        eta = self.lr * jnp.ones_like(jnp.asarray(t, dtype=float))
        return checked(eta, "SGD.lr", low=0.0, low_open=True)

    def checked_momentum(self) -> Array:
        return checked(self.momentum, "SGD.momentum", low=0.0, high=1.0, high_open=True)

    def static_batch(self) -> int:
        """The batch size as a Python int (needed where it sets an array shape)."""
        if not is_concrete(self.batch):
            raise ValueError("SGD.batch must be concrete here (it sets array shapes); "
                             "vmap over batch sizes only in theory.predict")
        return int(self.batch)

    def describe(self) -> str:
        """A short label, e.g. `SGD η=0.5, B=8, β=0.9`."""
        if isinstance(self.lr, schedules.AbstractSchedule):
            lr = self.lr.describe()
        elif callable(self.lr):
            lr = getattr(self.lr, "__name__", "schedule")
        else:
            lr = f"{float(self.lr):.4g}"
        return f"SGD η={lr}, B={int(self.batch)}, β={float(self.momentum):g}"

    def to_config(self) -> dict:
        out: dict = {"kind": self.kind, "batch": int(self.batch),
                     "momentum": float(self.momentum)}
        if isinstance(self.lr, schedules.AbstractSchedule):
            out["schedule"] = self.lr.to_config()
        elif callable(self.lr):
            out["schedule"] = {"kind": "callable", "repr": repr(self.lr)}
        else:
            out["lr"] = float(self.lr)
        return out

    @classmethod
    def from_config(cls, table: Table) -> "SGD":
        sched = table.table("schedule")
        if sched is not None:
            if table.has("lr"):
                table.fail("lr", "give lr or a schedule table, not both")
            lr = schedules.from_config(sched)
        else:
            lr = table.number("lr")
        batch = table.integer("batch", 1)
        momentum = table.number("momentum", 0.0)
        table.finish()
        return cls(lr, batch, momentum)


class ProxLinear(AbstractOptimizer):
    r"""Mini-batched prox-linear method for rank-one matrix sensing (`theory.sensing`).

    Each iteration draws a fresh batch of $m = \delta d$ measurements and solves the
    prox-linear subproblem exactly: with the residuals linearised at $x_t$,
    $x_{t+1} = \arg\min_x \frac{1}{2m}\sum_{i \le m}(r_i - g_i^\top(x - x_t))^2
    + \frac{1}{2\eta}\|x - x_t\|^2$ (Lou, Verchand, Pananjady, arXiv 2402.01599;
    THEORY.md §5). A large step approaches Gauss–Newton (undamped, $1/\eta \to 0$).

    **Arguments:**

    - `step`: the proximal step $\eta > 0$ (dimensionless: the subproblem's loss is a
      mean over the batch).
    - `batch_fraction`: measurements per iteration over the dimension, $\delta = m/d > 0$;
      an iteration advances t = samples/d by δ.
    """

    kind = "prox_linear"
    iteration_fields = ("batch_fraction",)
    step: Array = eqx.field(converter=_float_converter)
    batch_fraction: Array = eqx.field(default=1.0, converter=_float_converter)

    def __check_init__(self):
        check_range("ProxLinear.step", self.step, low=0.0, low_open=True)
        check_range("ProxLinear.batch_fraction", self.batch_fraction, low=0.0, low_open=True)

    def checked_step(self) -> Array:
        return checked(self.step, "ProxLinear.step", low=0.0, low_open=True)

    def checked_batch_fraction(self) -> Array:
        return checked(self.batch_fraction, "ProxLinear.batch_fraction", low=0.0, low_open=True)

    def describe(self) -> str:
        """A short label, e.g. `prox-linear η=1, δ=2`."""
        return f"prox-linear η={float(self.step):.4g}, δ={float(self.batch_fraction):.4g}"

    def to_config(self) -> dict:
        return {"kind": self.kind, "step": float(self.step),
                "batch_fraction": float(self.batch_fraction)}

    @classmethod
    def from_config(cls, table: Table) -> "ProxLinear":
        step = table.number("step")
        batch_fraction = table.number("batch_fraction", 1.0)
        table.finish()
        return cls(step, batch_fraction)


def optimizer_from_config(table: Table) -> AbstractOptimizer:
    """Build the optimizer named by the table's `kind` (default "sgd")."""
    kind = table.string("kind", tuple(_OPTIMIZERS), "sgd")
    return _OPTIMIZERS[kind].from_config(table)


__all__ = ["AbstractOptimizer", "SGD", "ProxLinear", "optimizer_from_config"]
