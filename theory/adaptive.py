r"""SGD whose rate adapts to what it measures: AdaGrad-norm, exact line search, Polyak step
(docs/theory.md, Least squares: adaptive rates; Collins-Woodfin, Seroussi, García
Malaxechebarría, Mackenzie, Paquette, Paquette, "The High Line", arXiv 2405.19585).

In high dimension each rate concentrates on a deterministic function of the order
parameters, so its curve is predicted with the risk (the named observable `lr`). Steps are
in the family's scaled parametrisation, $w' = w - \eta_k\hat g$ with $\hat g$ the batch's
mean gradient as the simulator returns it (for least squares $\hat g = G/d$, $G$ the
gradient of the batch loss in θ).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp

from .checks import check_integer, check_range, checked, is_concrete
from .fields import Number, String
from .optim import BATCH, AbstractOptimizer, _batch_converter, _float_converter

RULES = ("adagrad_norm", "line_search", "polyak")


def _sq_norm(tree) -> jax.Array:
    return sum(jnp.sum(x**2) for x in jax.tree.leaves(tree))


class AdaptiveSGD(AbstractOptimizer):
    r"""Online mini-batch SGD with an adaptive rate $\eta_k$ (no momentum).

    - `"adagrad_norm"`: $b_{k+1}^2 = b_k^2 + B\,\|\hat g_k\|^2$, $\eta_k = \eta/b_{k+1}$,
      $b_0$ = `b0` (each step adds its squared gradient times its time increment B/d, in
      the units where $d\|\hat g\|^2 = O(1)$, so $b^2$ is O(1) per unit of t).
    - `"line_search"`: the idealized exact line search of The High Line,
      $\eta_k = \eta\cdot\arg\min_s E_{\rm batch}[R(w_k - s\hat g_k)]$ over the fresh
      batch (R the population risk; η = 1 is exact): slope over curvature of that
      quadratic, from the simulator's `line_search_oracle`. (The minimiser along the one
      realised direction does not concentrate: its slope has O(1) relative noise.)
    - `"polyak"`: the stochastic Polyak step with $f^* = 0$ (Loizou et al. 2021),
      $\eta_k = \eta\, f_B(w_k) / (d\,\|\hat g_k\|^2)$, $f_B$ the batch's mean loss
      (η = 1/c).

    **Arguments:** `rule`, `lr` η > 0, `batch` B >= 1, `b0` > 0 (AdaGrad-norm only).

    The recorded observable `lr` is the rate of the last step (at t = 0 the nominal
    η/b0 or η).
    """

    kind = "adaptive"
    rotation_invariant = True
    config_fields = {"rule": String(RULES), "lr": Number(), "batch": BATCH, "b0": Number()}
    labels = {"lr": "rate scale η", "batch": "batch size B", "b0": "AdaGrad b0"}
    diagram_axes = ("lr", "batch")
    rule: str = eqx.field(static=True)
    lr: jax.Array = eqx.field(default=1.0, converter=_float_converter)
    batch: int | jax.Array = eqx.field(default=1, converter=_batch_converter)
    b0: jax.Array = eqx.field(default=1.0, converter=_float_converter)

    def __check_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"AdaptiveSGD.rule must be one of {', '.join(RULES)} (got {self.rule!r})")
        check_range("AdaptiveSGD.lr", self.lr, low=0.0, low_open=True)
        check_integer("AdaptiveSGD.batch", self.batch, low=1)
        check_range("AdaptiveSGD.b0", self.b0, low=0.0, low_open=True)
        if self.rule != "adagrad_norm" and is_concrete(self.b0) and float(self.b0) != 1.0:
            raise ValueError(f"AdaptiveSGD.b0 applies to rule 'adagrad_norm' only "
                             f"(got b0 = {float(self.b0):g} with rule {self.rule!r})")

    def checked_lr(self) -> jax.Array:
        """The base learning rate, checked > 0."""
        return checked(self.lr, "AdaptiveSGD.lr", low=0.0, low_open=True)

    def initial_rate(self) -> jax.Array:
        """The nominal rate recorded at t = 0."""
        return self.checked_lr() / self.b0 if self.rule == "adagrad_norm" else self.checked_lr()

    def init(self, params, clock):
        dtype = jnp.result_type(*jax.tree.leaves(params))
        return {"acc": (self.b0**2).astype(dtype), "lr": self.initial_rate().astype(dtype)}

    def update(self, params, state, batch, clock):
        g = batch.gradient(params)
        acc = state["acc"]
        eta = self.checked_lr()
        if self.rule == "adagrad_norm":
            acc = acc + self.batch * _sq_norm(g)
            rate = eta / jnp.sqrt(acc)
        elif self.rule == "line_search":
            slope, curvature = batch.line_search_oracle(params)
            rate = eta * slope / curvature
        else:
            rate = eta * batch.loss(params) / (batch.d * _sq_norm(g))
        new = jax.tree.map(lambda p, u: (p - rate * u).astype(p.dtype), params, g)
        return new, {"acc": acc, "lr": rate.astype(acc.dtype)}

    def observables(self, state) -> dict:
        return {"lr": state["lr"]}

    def describe(self) -> str:
        extra = f", b0={float(self.b0):g}" if self.rule == "adagrad_norm" else ""
        return f"{self.rule} η={float(self.lr):.4g}, B={int(self.batch)}{extra}"


__all__ = ["AdaptiveSGD", "RULES"]
