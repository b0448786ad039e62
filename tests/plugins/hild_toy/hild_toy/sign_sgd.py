"""An optimizer from outside hild: sign-SGD, simulated on any family with no theory and no
edit of hild. `w' = w - lr * sign(g)`, `g` the family's mean gradient over `batch` fresh
samples: `lr` is the step of every coordinate in the family's parametrisation (not an O(1)
rate). Not rotation-invariant, so a simulation in a rotated basis refuses it."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from hild.theory import AbstractOptimizer, check_integer, check_range


class SignSGD(AbstractOptimizer):
    kind = "sign_sgd"
    lr: float = eqx.field(converter=jnp.asarray)
    batch: int = eqx.field(default=1, static=True)

    def __check_init__(self):
        check_range("SignSGD.lr", self.lr, low=0.0, low_open=True)
        check_integer("SignSGD.batch", self.batch, low=1)

    def describe(self):
        return f"sign-SGD lr={float(self.lr):.3g}, B={self.batch}"

    def init(self, params, clock):
        return ()

    def update(self, params, state, batch, clock):
        g = batch.gradient(params)
        step = lambda p, u: (p - self.lr * jnp.sign(u)).astype(p.dtype)
        return jax.tree.map(step, params, g), state
