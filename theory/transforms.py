"""Any optax `GradientTransformation` as a hild optimizer (docs/families.md, Optimizers).

`Optax(optax.adam(1e-3), batch=8)` runs optax's own update on the family's mean gradient
over `batch` fresh samples, in the family's scaled parametrisation (`optax.sgd(η)` is
`SGD(η)`). Every family can simulate it; `predict` needs a theory registered for the pair
(`register_theory(Family, Optax)`), which hild does not have for arbitrary transforms.
`simulate(problem, optax.adam(1e-3), ...)` wraps a transform passed as is (batch 1).

In a config: `[optimizer] kind = "optax"`, `transform = "adam"` (a function of `optax`, or
`"package.module:function"`), `batch = 8` and the transform's arguments in
`[optimizer.args]` (`learning_rate = 1e-3`, ...).
"""

from __future__ import annotations

from typing import Any

import equinox as eqx

from .checks import check_integer
from .fields import Boolean, Codec, String
from .optim import BATCH, AbstractOptimizer
from .registry import is_spec, load_spec


def transform_from_name(name: str, args: dict):
    """`optax.<name>(**args)`, or the function `"package.module:function"` called with args."""
    import optax

    fn = load_spec(name) if is_spec(name) else getattr(optax, name, None)
    if not callable(fn):
        raise ValueError(f"Optax.transform: optax has no {name!r} (e.g. 'adam', 'sgd', "
                         "'rmsprop', 'lion', or 'package.module:function')")
    try:
        transform = fn(**args)
    except TypeError as err:
        raise ValueError(f"Optax.args: {name}({', '.join(args)}) failed: {err}") from None
    if not isinstance(transform, optax.GradientTransformation):
        raise ValueError(f"Optax.transform: {name} did not return an optax GradientTransformation")
    return transform


class _Args(Codec):
    """The transform's keyword arguments: a table of numbers, booleans and strings."""

    def read(self, table, key, given):
        args = table.table(key)
        if args is None:
            table.fail(key, "expected a table of the transform's arguments")
        out = {}
        for name in args.keys():
            raw = args.raw(name)
            out[name] = raw if isinstance(raw, (bool, str)) else args.number(name)
        args.finish()
        return out

    def write(self, key, value):
        return {key: dict(value)} if value else {}


class Optax(AbstractOptimizer):
    """An optax `GradientTransformation` applied to the batch's mean gradient.

    **Arguments:**

    - `transform`: an optax `GradientTransformation` (e.g. `optax.adam(1e-3)`), or the name
      of an optax function (`"adam"`), called with `args`.
    - `batch`: fresh samples per step, B >= 1.
    - `args`: keyword arguments of a named transform (for configs; ignored otherwise).
    - `rotation_invariant`: declare that the rule commutes with rotations (true for
      `optax.sgd`, false for Adam, sign-based and other coordinate-wise rules; default
      false). A simulation that runs in a rotated basis of its problem refuses rules that
      are not.
    """

    kind = "optax"
    labels = {"batch": "batch size B"}
    config_fields = {"transform": String(name=lambda t: t), "batch": BATCH, "args": _Args(),
                     "rotation_invariant": Boolean()}
    transform: Any = eqx.field(static=True)
    batch: int = eqx.field(default=1, static=True)
    args: tuple = eqx.field(default=(), static=True)  # (name, value) pairs: static fields hash
    rotation_invariant: bool = eqx.field(default=False, static=True)  # type: ignore[assignment]
    _rule: Any = eqx.field(default=None, static=True, repr=False)

    def __init__(self, transform, batch: int = 1, args: dict | None = None,
                 rotation_invariant: bool = False):
        import optax

        args = dict(args or {})
        self.args = tuple(sorted(args.items()))
        if isinstance(transform, str):
            self._rule = transform_from_name(transform, args)
        elif isinstance(transform, optax.GradientTransformation):
            self._rule = transform
        else:
            raise TypeError(f"Optax.transform must be an optax GradientTransformation or the "
                            f"name of one (got {type(transform).__name__})")
        self.transform = transform
        self.batch = batch
        self.rotation_invariant = bool(rotation_invariant)

    def __check_init__(self):
        check_integer("Optax.batch", self.batch, low=1)

    @property
    def name(self) -> str:
        """A short name of the rule: the optax function's name (e.g. `adam`) or the given string."""
        if isinstance(self.transform, str):
            return self.transform
        init = getattr(self._rule, "init", None)
        owner = getattr(init, "__qualname__", "") or ""
        return owner.split(".<locals>")[0] or "optax"

    def describe(self) -> str:
        args = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in self.args)
        return f"optax {self.name}({args}), B={self.batch}"

    def to_config(self) -> dict:
        if not isinstance(self.transform, str):
            raise ValueError("Optax: a transform given as an object has no config; build it "
                             "by name, Optax('adam', args={'learning_rate': 1e-3})")
        return super().to_config()

    def init(self, params, clock):
        return self._rule.init(params)

    def update(self, params, state, batch, clock):
        import optax

        updates, state = self._rule.update(batch.gradient(params), state, params)
        return optax.apply_updates(params, updates), state


__all__ = ["Optax", "transform_from_name"]
