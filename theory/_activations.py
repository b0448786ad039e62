r"""Activations of two-layer networks and the Gaussian integrals their learning dynamics need.

For jointly Gaussian local fields with covariance $C$ (docs/theory.md, Committee machines; Saad & Solla 1995,
PRE 52:4225; Goldt et al. 2019, arXiv 1906.08632):

- $I_2(a, c) = E[g(a) g(c)]$, a function of the three scalars $(C_{aa}, C_{ac}, C_{cc})$;
- $I_3(a, b, c) = E[g'(a)\, b\, g(c)] = C_{ab} E[g''(a) g(c)] + C_{bc} E[g'(a) g'(c)]$
  (Stein's lemma), where by Price's theorem $E[g''(a) g(c)] = 2\,\partial I_2/\partial C_{aa}$ and
  $E[g'(a) g'(c)] = \partial I_2/\partial C_{ac}$: `price` takes these derivatives with
  `jax.grad`, treating $a, c$ as distinct fields even when they coincide ($C_{ac} = C_{aa}
  = C_{cc}$), so $I_3$ never needs its own formula;
- $I_4(a, b, c, e) = E[g'(a) g'(b) g(c) g(e)]$.

Three kinds of activation:

- `Erf`, $g(x) = \mathrm{erf}(x/\sqrt2)$: the closed forms of Saad & Solla for $I_2$, $I_4$.
- `Relu`: $I_2$ in closed form (Cho & Saul 2009), $I_4$ by Price's theorem along the path
  $C(s) = \mathrm{diag}(C) + s\,\mathrm{offdiag}(C)$, whose integrand reduces to closed-form
  orthant probabilities and truncated moments of at most three fields (derived here; see
  `Relu.i4`), so one 1-D Gauss–Legendre rule does it, also for coincident fields.
- `Quadrature`, any other (twice differentiable) $g$: Gauss–Hermite tensor rules on a square
  root of the covariance, 2-D for $I_2$ and 4-D for $I_4$. Their derivatives in $C$ follow
  Price's theorem (`jax.custom_jvp`), never the square root, so they are finite at singular
  covariances and differentiable to any order. Polynomial activations are integrated exactly
  (a rule with $n$ nodes per axis is exact to degree $2n - 1$).
"""

from __future__ import annotations

import abc
import functools
import itertools
import math
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf
from jaxtyping import Array

_TWO_PI = 2.0 * math.pi
DEFAULT_QUADRATURE = (80, 12)
"""Gauss–Hermite nodes per axis (I2, I4) for activations without closed forms. Measured on
erf against its closed forms, field variances <= 1: I2 to ~1e-14; I4 of four distinct fields
to ~1e-6 (~1e-9 with 20 nodes), with coincident fields (fewer dimensions, more nodes per
axis) to ~1e-12. tanh converges more slowly (its poles at ±iπ/2 are close to the real axis
for variances ~1): with 80 nodes I3 at coincident fields is within 6e-8 of a 1-D reference
(40 nodes: 3e-5, and 5% off in its gradient), and the risk of K = M = 2 tanh at η = 0.5 is
converged in I2 to 1e-8; the 4-D I4 (the η² term) at 12 nodes moves that risk by ~1% at
η = 1 (t = 10: 0.0706 with 12 nodes, 0.0701 with 16, 0.0699 with 20): raise the second
number for precise η² terms (cost ∝ nodes⁴)."""
_I4_BATCH = 16  # I4 integrals evaluated at once (bounds the memory of 4-D tensor rules)


def _derivative(f: Callable) -> Callable:
    """The elementwise derivative of an elementwise function."""
    return lambda x: jax.jvp(f, (x,), (jnp.ones_like(x),))[1]


def _safe_sqrt(x):
    """sqrt(max(x, 0)) with a finite (zero) derivative at x <= 0."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _safe_div(x, y):
    ok = y != 0
    return jnp.where(ok, x / jnp.where(ok, y, 1.0), 0.0)


@functools.lru_cache(maxsize=None)
def _hermite_grid(n: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilists' Gauss–Hermite tensor rule for E over N(0, I_dim): nodes (n^dim, dim)."""
    z, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / math.sqrt(_TWO_PI)
    nodes = np.stack(np.meshgrid(*([z] * dim), indexing="ij"), -1).reshape(-1, dim)
    weights = np.prod(np.stack(np.meshgrid(*([w] * dim), indexing="ij"), -1).reshape(-1, dim), 1)
    return nodes, weights


@functools.partial(jax.custom_jvp, nondiff_argnums=(0, 1))
def gaussian_expectation(fs: tuple[Callable, ...], n: int, cov: Array) -> Array:
    r"""$E[\prod_i f_i(z_i)]$ for $z \sim N(0, C)$, $C$ = `cov` (dim × dim, PSD, maybe singular),
    by an n-point-per-axis Gauss–Hermite tensor rule on $C^{1/2}$ (eigendecomposition).

    Derivatives follow Price's theorem, $\partial E/\partial C_{ij} = E[\partial_i\partial_j
    \prod f]$ ($i \ne j$, for the symmetric pair) and $\tfrac12 E[\partial_i^2 \prod f]$ ($i = j$),
    evaluated by the same rule, so they never differentiate the square root."""
    dim = len(fs)
    nodes, weights = _hermite_grid(n, dim)
    lam, vec = jnp.linalg.eigh(cov)
    x = jnp.asarray(nodes, cov.dtype) @ (vec * jnp.sqrt(jnp.maximum(lam, 0.0))[None, :]).T
    prod = functools.reduce(lambda acc, i: acc * fs[i](x[:, i]), range(1, dim), fs[0](x[:, 0]))
    return jnp.sum(jnp.asarray(weights, cov.dtype) * prod)


@gaussian_expectation.defjvp
def _gaussian_expectation_jvp(fs, n, primals, tangents):
    (cov,), (dcov,) = primals, tangents
    dim = len(fs)
    dsym = 0.5 * (dcov + dcov.T)
    out = gaussian_expectation(fs, n, cov)
    tangent = jnp.zeros_like(out)
    for i in range(dim):
        for j in range(i, dim):
            if i == j:
                g = list(fs)
                g[i] = _derivative(_derivative(fs[i]))
                tangent = tangent + 0.5 * gaussian_expectation(tuple(g), n, cov) * dsym[i, i]
            else:
                g = list(fs)
                g[i], g[j] = _derivative(fs[i]), _derivative(fs[j])
                tangent = tangent + gaussian_expectation(tuple(g), n, cov) * dsym[i, j]
    return out, tangent


def _cov2(caa, cac, ccc):
    return jnp.stack([jnp.stack([caa, cac]), jnp.stack([cac, ccc])])


class AbstractActivation(eqx.Module):
    """An activation g with the Gaussian integrals of docs/theory.md, Committee machines."""

    name: eqx.AbstractVar[str]
    fields_first: ClassVar[bool] = False
    """True when `i4_fields` gains from knowing which slots coincide (quadrature rules);
    closed forms take any 4 × 4 covariance, coincident fields included, in one batch."""

    @abc.abstractmethod
    def __call__(self, x: Array) -> Array:
        """g(x), elementwise."""

    @abc.abstractmethod
    def _i2_scalar(self, caa, cac, ccc) -> Array:
        """I2 for scalar covariance entries (differentiable in all three)."""

    @abc.abstractmethod
    def _i4_single(self, cov: Array) -> Array:
        """I4 for one 4 × 4 covariance of the fields (a, b, c, e)."""

    def derivative(self, x: Array) -> Array:
        """g'(x), elementwise."""
        return _derivative(self.__call__)(x)

    def i2(self, caa, cac, ccc) -> Array:
        """E[g(a) g(c)], broadcasting over arrays of covariance entries."""
        return jnp.vectorize(self._i2_scalar)(caa, cac, ccc)

    def price(self, caa, cac, ccc) -> tuple[Array, Array, Array]:
        r"""$(I_2,\ E[g''(a) g(c)],\ E[g'(a) g'(c)])$ = $(I_2,\ 2\partial I_2/\partial C_{aa},\
        \partial I_2/\partial C_{ac})$ (Price's theorem), broadcasting over arrays."""

        def one(caa, cac, ccc):
            value, (d_aa, d_ac) = jax.value_and_grad(self._i2_scalar, argnums=(0, 1))(caa, cac, ccc)
            return value, 2.0 * d_aa, d_ac

        return jnp.vectorize(one)(caa, cac, ccc)

    def i3(self, cov: Array) -> Array:
        r"""$E[g'(a)\, b\, g(c)]$ for covariances (..., 3, 3) of (a, b, c), by Stein and Price."""
        _, second, cross = self.price(cov[..., 0, 0], cov[..., 0, 2], cov[..., 2, 2])
        return cov[..., 0, 1] * second + cov[..., 1, 2] * cross

    def i4(self, cov: Array) -> Array:
        """E[g'(a) g'(b) g(c) g(e)] for covariances (..., 4, 4) of (a, b, c, e)."""
        flat = cov.reshape((-1, 4, 4))
        out = jax.lax.map(self._i4_single, flat, batch_size=_I4_BATCH)
        return out.reshape(cov.shape[:-2])

    def i4_fields(self, cov: Array, slots: tuple[int, int, int, int]) -> Array:
        """I4 when some of (a, b, c, e) are the same field: `cov` (..., r, r) of the r distinct
        fields, `slots[i]` the field in slot i (a static pattern such as (0, 1, 0, 2))."""
        idx = np.asarray(slots)
        return self.i4(cov[..., idx[:, None], idx[None, :]])


class Erf(AbstractActivation):
    r"""$g(x) = \mathrm{erf}(x/\sqrt2)$ with the closed forms of Saad & Solla (1995):
    $I_2 = \frac2\pi \arcsin\frac{C_{12}}{\sqrt{(1+C_{11})(1+C_{22})}}$ and
    $I_4 = \frac{4}{\pi^2}\frac{1}{\sqrt{\Lambda_4}}\arcsin\frac{\Lambda_0}{\sqrt{\Lambda_1\Lambda_2}}$
    (docs/theory.md, Committee machines, where the Λ's are spelled out)."""

    name: str = eqx.field(default="erf", static=True)

    def __call__(self, x):
        return erf(x / math.sqrt(2.0))

    def _i2_scalar(self, caa, cac, ccc):
        return (2.0 / math.pi) * jnp.arcsin(cac / jnp.sqrt((1.0 + caa) * (1.0 + ccc)))

    def _i4_single(self, cov):
        return self.i4(cov)

    def i4(self, cov):
        c = lambda i, j: cov[..., i, j]
        l4 = (1 + c(0, 0)) * (1 + c(1, 1)) - c(0, 1) ** 2
        l0 = (l4 * c(2, 3) - c(1, 2) * c(1, 3) * (1 + c(0, 0)) - c(0, 2) * c(0, 3) * (1 + c(1, 1))
              + c(0, 1) * c(0, 2) * c(1, 3) + c(0, 1) * c(0, 3) * c(1, 2))
        l1 = (l4 * (1 + c(2, 2)) - c(1, 2) ** 2 * (1 + c(0, 0)) - c(0, 2) ** 2 * (1 + c(1, 1))
              + 2 * c(0, 1) * c(0, 2) * c(1, 2))
        l2 = (l4 * (1 + c(3, 3)) - c(1, 3) ** 2 * (1 + c(0, 0)) - c(0, 3) ** 2 * (1 + c(1, 1))
              + 2 * c(0, 1) * c(0, 3) * c(1, 3))
        return (4.0 / math.pi**2) / jnp.sqrt(l4) * jnp.arcsin(l0 / jnp.sqrt(l1 * l2))


@jax.custom_jvp
def _relu_i2(caa, cac, ccc):
    r"""$E[\mathrm{relu}(a)\mathrm{relu}(c)] = \frac{1}{2\pi}(\sqrt{C_{aa}C_{cc} - C_{ac}^2}
    + C_{ac}(\pi - \theta))$, $\theta = \arccos(C_{ac}/\sqrt{C_{aa}C_{cc}})$ (Cho & Saul 2009)."""
    root = _safe_sqrt(caa * ccc - cac**2)
    return (root + cac * (math.pi - jnp.arctan2(root, cac))) / _TWO_PI


@_relu_i2.defjvp
def _relu_i2_jvp(primals, tangents):
    # Price: dI2/dC_ac = E[1{a>0} 1{c>0}] = (pi - theta)/(2 pi);
    # dI2/dC_aa = E[delta(a) relu(c)]/2 = sqrt(C_aa C_cc - C_ac^2)/(4 pi C_aa).
    caa, cac, ccc = primals
    dcaa, dcac, dccc = tangents
    root = _safe_sqrt(caa * ccc - cac**2)
    theta = jnp.arctan2(root, cac)
    tangent = ((math.pi - theta) / _TWO_PI * dcac
               + _safe_div(root, 2.0 * _TWO_PI * caa) * dcaa
               + _safe_div(root, 2.0 * _TWO_PI * ccc) * dccc)
    return _relu_i2(caa, cac, ccc), tangent


def _orthant2(cov, i, j):
    """P(z_i > 0, z_j > 0) for zero-mean Gaussian z (Sheppard)."""
    rho = cov[i, j] / jnp.sqrt(cov[i, i] * cov[j, j])
    return 0.25 + jnp.arcsin(jnp.clip(rho, -1.0, 1.0)) / _TWO_PI


def _given1(cov, k):
    """Covariance of z given z_k = 0."""
    return cov - jnp.outer(cov[:, k], cov[k, :]) / cov[k, k]


def _given2(cov, i, j):
    """Covariance of z given z_i = z_j = 0, and the density of (z_i, z_j) at (0, 0)."""
    det = cov[i, i] * cov[j, j] - cov[i, j] ** 2
    cols = jnp.stack([cov[:, i], cov[:, j]], 1)
    inv = jnp.stack([jnp.stack([cov[j, j], -cov[i, j]]), jnp.stack([-cov[i, j], cov[i, i]])]) / det
    return cov - cols @ inv @ cols.T, 1.0 / (_TWO_PI * jnp.sqrt(det))


def _truncated_mean(cov, e, others):
    r"""$E[z_e 1\{z_e > 0\} \prod_{j \in others} 1\{z_j > 0\}]$ for three zero-mean fields, by
    Stein: $\sum_j C_{ej}\,\phi_j(0)\,P(\text{the other two} > 0 \mid z_j = 0)$."""
    fields = (*others, e)
    total = 0.0
    for j in fields:
        rest = [k for k in fields if k != j]
        density = 1.0 / jnp.sqrt(_TWO_PI * cov[j, j])
        total = total + cov[e, j] * density * _orthant2(_given1(cov, j), rest[0], rest[1])
    return total


class Relu(AbstractActivation):
    r"""$g(x) = \max(x, 0)$: $I_2$ in closed form (Cho & Saul 2009, with Price-theorem
    derivatives), $I_4$ by a path integral of Price's theorem (see `i4`).

    Needs positive variances: a student unit with $Q_{kk} = 0$ has no ReLU gradient."""

    name: str = eqx.field(default="relu", static=True)
    path_nodes: int = eqx.field(default=24, static=True)

    def __call__(self, x):
        return jnp.maximum(x, 0.0)

    def derivative(self, x):
        return (x > 0).astype(jnp.result_type(x, float))

    def _i2_scalar(self, caa, cac, ccc):
        return _relu_i2(caa, cac, ccc)

    def i4(self, cov):
        flat = cov.reshape((-1, 4, 4))
        return jax.vmap(self._i4_single)(flat).reshape(cov.shape[:-2])

    def _i4_single(self, cov):
        r"""$F = 1\{a>0\}1\{b>0\}c_+e_+$. Along $C(s) = D + sO$ ($D$ the diagonal, $O$ the rest)
        Price's theorem gives $dE[F]/ds = \sum_{i<j} O_{ij} E_s[\partial_i\partial_j F]$, and
        $E[F]$ at $s = 0$ factorises: $\frac14\sqrt{C_{cc}C_{ee}}/(2\pi)$. The terms:
        $(a,b)$: $f_{ab}(0,0) E[c_+e_+ \mid a=b=0]$ (Cho–Saul);
        $(a,c)$: $\phi_a(0) E[e\,1\{b,c,e>0\} \mid a=0]$ (Stein, `_truncated_mean`), and
        likewise $(a,e), (b,c), (b,e)$; $(c,e)$: the orthant probability $P_4(s)$, itself
        $\frac1{16} + \int_0^s \sum_{i<j} O_{ij} f_{ij}(0,0) P(\text{rest}>0 \mid z_i=z_j=0)$
        (Plackett 1954), so $\int_0^1 P_4 = \frac1{16} + \int_0^1 (1-s) P_4'(s)\,ds$.
        $C(s)$ is positive definite for $s < 1$; coincident fields make the integrand
        $\propto (1-s)^{-1/2}$, removed by $s = 1 - u^2$ (Gauss–Legendre in u)."""
        diag = jnp.diag(cov)
        off = cov - jnp.diag(diag)
        a, b, c, e = 0, 1, 2, 3

        def integrand(s):
            cs = jnp.diag(diag) + s * off
            given_ab, f_ab = _given2(cs, a, b)
            total = off[a, b] * f_ab * _relu_i2(given_ab[c, c], given_ab[c, e], given_ab[e, e])
            for p, q in ((a, b), (b, a)):
                given_p = _given1(cs, p)
                density = 1.0 / jnp.sqrt(_TWO_PI * cs[p, p])
                total = total + off[p, c] * density * _truncated_mean(given_p, e, (q, c))
                total = total + off[p, e] * density * _truncated_mean(given_p, c, (q, e))
            dp4 = 0.0
            for i, j in itertools.combinations(range(4), 2):
                rest = [k for k in range(4) if k not in (i, j)]
                given_ij, f_ij = _given2(cs, i, j)
                dp4 = dp4 + off[i, j] * f_ij * _orthant2(given_ij, rest[0], rest[1])
            return total + off[c, e] * (1.0 - s) * dp4

        x, w = np.polynomial.legendre.leggauss(self.path_nodes)
        u = jnp.asarray((x + 1.0) / 2.0, cov.dtype)
        w = jnp.asarray(w / 2.0, cov.dtype)
        values = jax.vmap(integrand)(1.0 - u**2)
        base = 0.25 * jnp.sqrt(diag[c] * diag[e]) / _TWO_PI + off[c, e] / 16.0
        return base + jnp.sum(w * 2.0 * u * values)


class Quadrature(AbstractActivation):
    """Any elementwise, twice-differentiable g: Gauss–Hermite rules with `nodes` = (n for I2,
    n for I4) points per axis (`gaussian_expectation`)."""

    fn: Callable = eqx.field(static=True)
    name: str = eqx.field(static=True)
    nodes: tuple[int, int] = eqx.field(default=DEFAULT_QUADRATURE, static=True)
    fields_first: ClassVar[bool] = True

    def __call__(self, x):
        return self.fn(x)

    def _i2_scalar(self, caa, cac, ccc):
        return gaussian_expectation((self.fn, self.fn), self.nodes[0], _cov2(caa, cac, ccc))

    def _i4_single(self, cov):
        return self.i4_fields(cov, (0, 1, 2, 3))

    def i4_fields(self, cov, slots):
        """A tensor rule over the r distinct fields only (the slot functions of one field
        multiplied), with n^(4/r) nodes per axis (at most 100) for n = `nodes[1]`: the same
        budget as 4-D, and much more accurate for coincident fields."""
        dg = _derivative(self.fn)
        slot_fns = (dg, dg, self.fn, self.fn)
        r = max(slots) + 1
        fns = tuple(_product([f for f, j in zip(slot_fns, slots) if j == i]) for i in range(r))
        n = self.nodes[1] if r == 4 else min(100, round(self.nodes[1] ** (4 / r)))
        flat = cov.reshape((-1, r, r))
        out = jax.lax.map(lambda c: gaussian_expectation(fns, n, c), flat, batch_size=_I4_BATCH)
        return out.reshape(cov.shape[:-2])


def _product(fns: list[Callable]) -> Callable:
    if len(fns) == 1:
        return fns[0]
    return lambda x: functools.reduce(lambda acc, f: acc * f(x), fns[1:], fns[0](x))


def _square(x):
    return x * x


def _identity(x):
    return x


NAMED = {
    "erf": lambda quadrature: Erf(),
    "relu": lambda quadrature: Relu(),
    # exact with 2 and 4 nodes per axis (degrees 2 and <= 6)
    "linear": lambda quadrature: Quadrature(fn=_identity, name="linear", nodes=quadrature or (2, 2)),
    "quadratic": lambda quadrature: Quadrature(fn=_square, name="quadratic", nodes=quadrature or (4, 4)),
    "tanh": lambda quadrature: Quadrature(fn=jnp.tanh, name="tanh", nodes=quadrature or DEFAULT_QUADRATURE),
}


def make_activation(spec: str | Callable, quadrature: tuple[int, int] | None = None,
                    field: str = "activation") -> AbstractActivation:
    """The activation named `spec` (one of `NAMED`) or a user's elementwise callable (integrated
    by Gauss–Hermite quadrature with `quadrature` = (nodes for I2, nodes for I4) per axis)."""
    if isinstance(spec, str):
        if spec not in NAMED:
            raise ValueError(f"{field} must be one of {', '.join(NAMED)} or a callable "
                             f"(got {spec!r})")
        return NAMED[spec](quadrature)
    if not callable(spec):
        raise ValueError(f"{field} must be one of {', '.join(NAMED)} or a callable (got {spec!r})")
    name = getattr(spec, "__name__", type(spec).__name__)
    return Quadrature(fn=spec, name=name, nodes=quadrature or DEFAULT_QUADRATURE)


__all__ = ["AbstractActivation", "Erf", "Relu", "Quadrature", "NAMED", "make_activation",
           "gaussian_expectation", "DEFAULT_QUADRATURE"]
