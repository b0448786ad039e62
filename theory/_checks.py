"""Validation of user-facing fields: a ValueError that names the field and its range.

Concrete values are checked when an object is built (`__check_init__`). Traced values
(inside `jit`/`vmap`/`grad`) cannot raise at construction; `checked` wraps them with
`equinox.error_if`, so the same message surfaces at run time.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np


def is_concrete(x) -> bool:
    """True when `x` holds values (not a tracer)."""
    return not isinstance(x, jax.core.Tracer)


def _as_numpy(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _describe(x) -> str:
    arr = np.asarray(x)
    if arr.ndim == 0:
        return repr(arr.item())
    return f"array of shape {arr.shape}, min {np.nanmin(arr):.4g}, max {np.nanmax(arr):.4g}"


def check_finite(name: str, x) -> None:
    if is_concrete(x) and not np.all(np.isfinite(_as_numpy(x))):
        raise ValueError(f"{name} must be finite (got {_describe(x)})")


def check_range(
    name: str,
    x,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """Raise ValueError unless every entry of concrete `x` is finite and in the range."""
    if not is_concrete(x):
        return
    check_finite(name, x)
    arr = _as_numpy(x)
    ok_low = arr > low if low_open else arr >= low
    ok_high = arr < high if high_open else arr <= high
    if not (np.all(ok_low) and np.all(ok_high)):
        raise ValueError(f"{name} must be {range_text(low, high, low_open, high_open)} "
                         f"(got {_describe(x)})")


def range_text(low, high, low_open=False, high_open=False) -> str:
    if high == math.inf:
        return f"{'>' if low_open else '>='} {low:g}"
    if low == -math.inf:
        return f"{'<' if high_open else '<='} {high:g}"
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    return f"in {left}{low:g}, {high:g}{right}"


def check_integer(name: str, x, *, low: int = 1) -> None:
    if not is_concrete(x):
        return
    arr = _as_numpy(x)
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)) or np.any(arr < low):
        raise ValueError(f"{name} must be an integer >= {low} (got {_describe(x)})")


def check_vector(name: str, x, *, size: int | None = None) -> None:
    if not is_concrete(x):
        return
    arr = np.asarray(x)
    if arr.ndim != 1 or (size is not None and arr.shape[0] != size):
        want = "a 1-D array" if size is None else f"a 1-D array of length {size}"
        raise ValueError(f"{name} must be {want} (got shape {arr.shape})")
    check_finite(name, x)


def checked(x, name: str, *, low: float = -math.inf, high: float = math.inf,
            low_open: bool = False, high_open: bool = False):
    """Return `x`, with a run-time check of its range when it is traced."""
    if is_concrete(x):
        check_range(name, x, low=low, high=high, low_open=low_open, high_open=high_open)
        return x
    bad_low = x <= low if low_open else x < low
    bad_high = x >= high if high_open else x > high
    bad = jnp.any(bad_low | bad_high | ~jnp.isfinite(x))
    msg = f"{name} must be {range_text(low, high, low_open, high_open)}"
    return eqx.error_if(x, bad, msg)
