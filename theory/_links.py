r"""Scalar link functions of single-index models, their Hermite coefficients and the
information exponent (docs/theory.md, Single-index models).

Names: "linear", "relu", "erf" ($\mathrm{erf}(z/\sqrt2)$), "tanh", "sign", "quadratic"
($z^2$, phase retrieval), "he<k>" (the normalised Hermite polynomial $He_k(z)/\sqrt{k!}$,
k = 1..12), or any elementwise callable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf

_FIXED: dict[str, Callable] = {
    "linear": lambda z: z,
    "relu": lambda z: jnp.maximum(z, 0.0),
    "erf": lambda z: erf(z / math.sqrt(2.0)),
    "tanh": jnp.tanh,
    "sign": jnp.sign,
    "quadratic": lambda z: z * z,
}
_HERMITE = re.compile(r"he(\d+)$")
MAX_HERMITE = 12
LINK_NAMES = (*_FIXED, "he<k>")


def hermite(k: int) -> Callable:
    r"""$z \mapsto He_k(z)/\sqrt{k!}$ (probabilists' Hermite, unit norm under N(0, 1))."""
    def fn(z):
        prev, cur = jnp.ones_like(z), z
        if k == 0:
            return prev
        for j in range(1, k):
            prev, cur = cur, z * cur - j * prev
        return cur / math.sqrt(math.factorial(k))

    return fn


def make_link(spec: str | Callable, field: str) -> Callable:
    """The function named `spec` (see the module docstring) or a user's callable."""
    if callable(spec) and not isinstance(spec, str):
        return spec
    if isinstance(spec, str):
        if spec in _FIXED:
            return _FIXED[spec]
        match = _HERMITE.match(spec)
        if match and 1 <= int(match.group(1)) <= MAX_HERMITE:
            return hermite(int(match.group(1)))
    raise ValueError(f"{field} must be one of {', '.join(LINK_NAMES)} (k = 1..{MAX_HERMITE}) "
                     f"or a callable (got {spec!r})")


def link_name(spec: str | Callable) -> str:
    return spec if isinstance(spec, str) else getattr(spec, "__name__", type(spec).__name__)


def _split_rule(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """E over N(0, 1) by Gauss–Legendre on [-12, 0] and [0, 12]: exact to ~1e-12 for functions
    smooth on each half-line (a kink at 0, as for sign and relu)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    z = np.concatenate([6.0 * (x - 1.0), 6.0 * (x + 1.0)])
    return z, np.concatenate([w, w]) * 6.0 * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def hermite_coefficients(link: str | Callable, k_max: int = 8, nodes: int = 120) -> np.ndarray:
    r"""$c_k = E[g(z)\,He_k(z)]/\sqrt{k!}$ for k = 0..k_max, z ~ N(0, 1) (`nodes`-point
    Gauss–Legendre rules on each half-line, so kinks at 0 cost no accuracy)."""
    g = make_link(link, "link")
    z, w = _split_rule(nodes)
    with jax.ensure_compile_time_eval():  # concrete even when called under jit
        values = np.asarray(g(jnp.asarray(z)), dtype=np.float64)
        basis = [np.asarray(hermite(k)(jnp.asarray(z)), dtype=np.float64) for k in range(k_max + 1)]
    return np.array([np.sum(w * values * h) for h in basis])


def information_exponent(link: str | Callable, k_max: int = 12, tol: float = 1e-6) -> int:
    r"""The information exponent $k^*$: the first k >= 1 with $c_k(g) \ne 0$ (|c_k| above
    `tol` times the norm $E[g^2]^{1/2}$). Ben Arous, Gheissari, Jagannath, arXiv 2003.10409:
    online SGD needs ~d, d log d, d^{k*-1} samples for k* = 1, 2, >= 3. ValueError if every
    c_k up to k_max vanishes."""
    coeffs = hermite_coefficients(link, k_max)
    z, w = _split_rule(120)
    g = make_link(link, "link")
    with jax.ensure_compile_time_eval():
        norm = math.sqrt(float(np.sum(w * np.asarray(g(jnp.asarray(z)), np.float64) ** 2)))
    for k in range(1, k_max + 1):
        if abs(coeffs[k]) > tol * max(norm, 1e-300):
            return k
    raise ValueError(f"link {link_name(link)!r}: no Hermite coefficient c_1..c_{k_max} is "
                     "non-zero (information exponent above k_max)")
