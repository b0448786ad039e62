r"""Least squares on a real data set: one-pass SGD on rows drawn with replacement.

The data distribution is the data set's own (empirical) one: each step draws B rows
$(x_i, y_i)$ uniformly with replacement. $\theta^*$ is the least-squares fit, $r_i = y_i -
x_i\cdot\theta^*$ the residual (the part of y outside the linear span), $\Sigma = \frac1n
X^\top X$. Model $f = \theta\cdot x$, per-step size $\gamma = \eta/d$, time $t = kB/d$, risk
$\tfrac12 E_i[(x_i\cdot(\theta - \theta^*))^2]$ (the excess over the best linear fit), as for
`LinearRegression` (docs/theory.md, Least squares).

Two methods (docs/theory.md, Real data):

- "exact": the first and second moments of $e = \theta - \theta^*$ close on the data set's
  empirical fourth moments and residual cross terms; exact at finite n and d. One step
  costs O(n d²), the state O(d²) (three d × d matrices).
- "gaussian": Bordelon & Pehlevan's Gaussian equivalent — `LinearRegression` with Σ's
  eigenvalues, θ* in its eigenbasis and σ² = mean r² (`gaussian_equivalent()`); the
  d → ∞ reference.

Bordelon & Pehlevan, "Learning curves for SGD on structured features", ICLR 2022
(arXiv 2106.02713).
"""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import scipy.optimize
import scipy.sparse.linalg
from jaxtyping import Array

from . import _datasets, linreg
from ._family import AbstractProblem, Observation, Recursion
from ._theories import register_theory, theory_for
from .checks import check_vector, is_concrete
from .fields import Matrix, Table
from .linreg import LinearRegression, ModeMoments
from .optim import SGD


class ErrorMoments(eqx.Module):
    r"""The first and second moments of the error $e = \theta - \theta^*$ in Σ's eigenbasis:
    `mean` $= E[e]$, shape (d,), and `second` $= E[e e^\top]$, shape (d, d)."""

    mean: Array
    second: Array


class DataSetRegression(AbstractProblem):
    r"""Least squares on the empirical distribution of a data set (X, y).

    **Arguments:**

    - `features`: X, shape (n, d), finite, n >= 2.
    - `targets`: y, shape (n,), finite.
    - `preprocess`: "center" (default; a constant column is a zero eigenvalue),
      "standardize" (a constant column is an error) or "none"; then X is scaled to mean
      eigenvalue 1 and y to mean square 1 (`theory._datasets.prepare`).
    - `init`: initial θ₀ in the input basis, shape (d,); default zeros.

    `DataSetRegression.from_dataset("digits")` loads a scikit-learn data set (the `data`
    extra), with raw or random ReLU features.
    """

    family = "dataset"
    methods: ClassVar[dict[str, str]] = {"exact": "recursion", "gaussian": "recursion"}
    features: Array
    targets: Array
    spectrum: Array
    basis: Array
    teacher: Array
    residual: Array
    init: Array
    source: tuple = eqx.field(static=True)

    def __init__(self, features, targets, preprocess: str = "center", init=None, source=()):
        x, y = _datasets.prepare(features, targets, preprocess)
        n, d = x.shape
        eigs, vecs = np.linalg.eigh(x.T @ x / n)
        order = np.argsort(eigs)[::-1]
        eigs, vecs = np.clip(eigs[order], 0.0, None), vecs[:, order]
        z = x @ vecs
        kept = eigs > d * np.finfo(np.float64).eps * eigs[0]  # the pseudo-inverse's rank
        teacher = np.where(kept, (z.T @ y / n) / np.where(kept, eigs, 1.0), 0.0)
        if init is not None:
            check_vector("DataSetRegression.init", init, size=d)
            init = vecs.T @ np.asarray(init, dtype=np.float64)
        self.features, self.targets = jnp.asarray(x), jnp.asarray(y)
        self.spectrum, self.basis = jnp.asarray(eigs), jnp.asarray(vecs)
        self.teacher = jnp.asarray(teacher)
        self.residual = jnp.asarray(y - z @ teacher)
        self.init = jnp.zeros(d) if init is None else jnp.asarray(init)
        self.source = tuple(source) or (("preprocess", preprocess),)

    @classmethod
    def from_dataset(cls, data: str, features: str = "raw", width: int = 256, key: int = 0,
                     preprocess: str | None = None, init=None) -> DataSetRegression:
        """A scikit-learn data set (`theory._datasets.DATA_SETS`: digits, breast_cancer,
        diabetes) with its raw columns or `width` random ReLU features drawn with `key`;
        `preprocess` defaults to the data set's own (raw) or "center" (ReLU features)."""
        x, y = _datasets.load_features(data, features, width, key, preprocess)
        source = [("data", data), ("features", features)]
        if features == "relu":
            source += [("width", int(width)), ("key", int(key))]
        source.append(("preprocess", preprocess))
        return cls(x, y, "none", init, tuple(source))

    # ------------------------------------------------------------------ derived
    @property
    def n(self) -> int:
        """The number of rows n of the data set."""
        return self.features.shape[0]

    @property
    def d(self) -> int:
        """The feature dimension d (columns of the features)."""
        return self.features.shape[1]

    @property
    def noise_variance(self) -> Array:
        """$\\sigma^2$ = mean squared residual: the part of y no linear fit reaches."""
        return jnp.mean(self.residual**2)

    def eigen_inputs(self) -> Array:
        """The rows in Σ's eigenbasis, $z_i = V^\\top x_i$, shape (n, d)."""
        return self.features @ self.basis

    def gaussian_equivalent(self) -> LinearRegression:
        """Bordelon & Pehlevan's Gaussian model of this data set: Σ's spectrum, θ* in its
        eigenbasis and label noise σ² = mean r² (docs/theory.md, Real data)."""
        return LinearRegression(self.spectrum, self.teacher, jnp.sqrt(self.noise_variance),
                                self.init)

    def fourth_moment_ratio(self) -> float:
        r"""$E_i\|x_i\|^4$ over its Gaussian value $(\operatorname{tr}\Sigma)^2 +
        2\operatorname{tr}\Sigma^2$: 1 for Gaussian data; how far the noise term of SGD is
        from the Gaussian one at isotropic error."""
        norms2 = np.sum(np.asarray(self.features) ** 2, axis=1)
        lam = np.asarray(self.spectrum)
        return float(np.mean(norms2**2) / (lam.sum() ** 2 + 2 * np.sum(lam**2)))

    # ------------------------------------------------------------------ family hooks
    def initial_state(self, init=None) -> ErrorMoments:
        """Moments at t = 0: `init` (an `ErrorMoments`), or the point mass at `problem.init`."""
        if init is None:
            m = self.init - self.teacher
            return ErrorMoments(m, jnp.outer(m, m))
        if not isinstance(init, ErrorMoments):
            raise TypeError(f"init must be an ErrorMoments (got {type(init).__name__})")
        check_vector("init.mean", init.mean, size=self.d)
        if np.shape(init.second) != (self.d, self.d):
            raise ValueError(f"init.second must have shape ({self.d}, {self.d}) "
                             f"(got {np.shape(init.second)})")
        return init

    def divergence_floor(self) -> Array:
        return jnp.maximum(1.0, self.noise_variance)

    def parameter_groups(self) -> tuple[str, ...]:
        return ("weights",)

    def stability_limit(self, optimizer: SGD, method: str | None = None):
        """The largest stable constant lr of plain SGD under `method`: "exact", the exact
        recursion's own (`exact_critical_lr`); "gaussian", least squares' `critical_lr` of the
        Gaussian equivalent. None with momentum or traced fields (no formula here)."""
        method = theory_for(self, optimizer, method, check=False)[1]
        if not (is_concrete(optimizer.momentum) and is_concrete(optimizer.batch)) \
                or float(optimizer.momentum) != 0.0:
            return None
        if method == "gaussian":
            return self.gaussian_equivalent().stability_limit(optimizer, "exact")
        if not is_concrete(self.features):
            return None
        return jnp.asarray(exact_critical_lr(self, float(optimizer.batch)))

    def metadata(self) -> dict:
        if not is_concrete(self.features):  # inside a vmapped sweep (compare.tune)
            return {"n": self.n}
        constant = np.flatnonzero(np.all(np.asarray(self.features) == 0.0, axis=0))
        return {"n": self.n, "noise_variance": self._noise_variance_value(),
                "fourth_moment_ratio": self.fourth_moment_ratio(),
                "constant_columns": constant.tolist()}  # zero eigenvalues, never learned

    def _noise_variance_value(self) -> float:
        """σ² as a number, computed in numpy (jnp would trace it inside a jit)."""
        return float(np.mean(np.asarray(self.residual) ** 2))

    def describe(self) -> str:
        src = dict(self.source)
        name = src.get("data", "data")
        if src.get("features") == "relu":
            name += f", {src['width']} ReLU features"
        return f"{name}: n={self.n}, d={self.d}, σ²={self._noise_variance_value():.3g}"

    def to_config(self) -> dict:
        src = dict(self.source)
        out: dict = {}
        if "data" in src:
            out["data"] = src["data"]
            out["features"] = (src["features"] if src["features"] == "raw" else
                               {"kind": "relu", "width": src["width"], "key": src["key"]})
            if src["preprocess"] is not None:
                out["preprocess"] = src["preprocess"]
        else:  # prepared arrays: "none" keeps them as they are
            out["X"] = np.asarray(self.features).tolist()
            out["y"] = np.asarray(self.targets).tolist()
            out["preprocess"] = "none"
        if np.any(np.asarray(self.init) != 0):
            out["init"] = (np.asarray(self.basis) @ np.asarray(self.init)).tolist()
        return out

    @classmethod
    def from_config(cls, table: Table) -> DataSetRegression:
        init = table.numbers("init", None) if table.has("init") else None
        preprocess = (table.string("preprocess", _datasets.PREPROCESS)
                      if table.has("preprocess") else None)
        if table.has("X"):
            x, y = Matrix().read(table, "X", {}), table.numbers("y")
            table.finish()
            return cls(x, y, preprocess or "center", init)
        data = table.string("data", _datasets.DATA_SETS.names())
        missing = _datasets.missing_extra(data)
        if missing:
            table.fail("data", missing)
        features, width, key = _features_from_config(table)
        table.finish()
        return cls.from_dataset(data, features, width, key, preprocess, init)


def _features_from_config(table: Table) -> tuple[str, int, int]:
    if not table.has("features") or isinstance(table.raw("features"), str):
        kind = table.string("features", _datasets.FEATURES) if table.has("features") else "raw"
        return kind, 256, 0
    spec = table.table("features")
    kind = spec.string("kind", _datasets.FEATURES)
    width, key = spec.integer("width", 256), spec.integer("key", 0)
    if width < 1:
        spec.fail("width", f"must be an integer >= 1 (got {width})")
    spec.finish()
    return kind, width, key


def exact_critical_lr(problem: DataSetRegression, batch: float = 1.0) -> float:
    r"""The largest constant η of plain SGD at which the exact recursion's second moments stay
    bounded (docs/theory.md, Real data: stability). With $\gamma = \eta/d$ the linear part
    is $L = I - \gamma T_\gamma + (\gamma^2/B)F$, $F(A) = \frac1n\sum_i (z_i^\top A z_i)\,
    z_iz_i^\top$, $T_\gamma(A)_{jk} = (\lambda_j + \lambda_k - \gamma(1 - 1/B)\lambda_j\lambda_k)
    A_{jk}$. L and F preserve PSD matrices and, for $\gamma(1-1/B)\lambda_{max} < 2$, so does
    $T_\gamma^{-1}$ (a sum of congruences); by the regular-splitting theorem $\rho(L) < 1$ iff
    $\mu(\gamma) = (\gamma/B)\,\rho(T_\gamma^{-1}F) < 1$. μ increases in γ; its root is
    found by Brent's method, ρ by Lanczos on the symmetric form $W^{1/2}FW^{1/2}$,
    $W = T_\gamma^{-1}$ (matrix-free, O(n d²) a product). Gaussian data give `critical_lr`."""
    z, lam = np.asarray(problem.eigen_inputs()), np.asarray(problem.spectrum)
    n, d = z.shape
    live = lam > d * np.finfo(np.float64).eps * lam[0]  # zero modes never move
    z, lam = z[:, live], lam[live]
    m = lam.size
    shrink = 1.0 - 1.0 / batch

    def gain(gamma: float) -> float:
        denom = lam[:, None] + lam[None, :] - gamma * shrink * lam[:, None] * lam[None, :]
        root_w = 1.0 / np.sqrt(denom)

        def matvec(v):
            a = root_w * v.reshape(m, m)
            weight = np.sum((z @ a) * z, axis=1)
            return (root_w * ((z.T * weight) @ z / n)).ravel()

        op = scipy.sparse.linalg.LinearOperator((m * m, m * m), matvec=matvec, dtype=np.float64)
        top = scipy.sparse.linalg.eigsh(op, k=1, which="LA", tol=1e-12,
                                        v0=np.eye(m).ravel(), return_eigenvectors=False)
        return gamma / batch * float(top[0])

    if shrink == 0.0:  # B = 1: W does not depend on γ, so μ = γ μ(1)
        return float(d / gain(1.0))
    hi = 2.0 / (shrink * lam[0]) * (1.0 - 1e-12)
    return float(d * scipy.optimize.brentq(lambda g: gain(g) - 1.0, 0.0, hi, xtol=1e-14, rtol=1e-12))


@register_theory(DataSetRegression, SGD)
def sgd_theory(problem: DataSetRegression, optimizer: SGD, state: ErrorMoments, method: str):
    """"exact": the recursion on the data set's own distribution; "gaussian": least squares'
    recursion on the Gaussian equivalent (the covariance spectrum and the target alone)."""
    if method == "exact":
        return _exact_recursion(problem, optimizer, state)
    gaussian = linreg.sgd_theory(problem.gaussian_equivalent(), optimizer,
                                 ModeMoments(jnp.diag(state.second)), "exact")
    return gaussian._replace(label="Gaussian equivalent")


def _exact_recursion(problem: DataSetRegression, optimizer: SGD, state: ErrorMoments) -> Recursion:
    r"""docs/theory.md, Real data. In Σ's eigenbasis ($\Sigma = \mathrm{diag}\,\lambda$,
    rows $z_i$), with $p = 1 + \beta - \gamma\lambda$, $m = E[e_k]$, $A = E[e_k e_k^\top]$,
    $C = E[e_k e_{k-1}^\top]$, $D = E[e_{k-1}e_{k-1}^\top]$:
    $A' = pAp - \beta(pC + C^\top p) + \beta^2 D + \frac{\gamma^2}{B}\big(\frac1n\sum_i
    w_i z_i z_i^\top - \lambda A\lambda\big)$ with $w_i = z_i^\top A z_i - 2r_i z_i^\top m +
    r_i^2$; $C' = pA - \beta C^\top$, $D' = A$, $m' = pm - \beta m_{prev}$."""
    z, lam, r = problem.eigen_inputs(), problem.spectrum, problem.residual
    z_t = z.T  # transposed once, not in every step (measured 2.5x faster)
    n, d = z.shape
    batch = jnp.asarray(optimizer.batch, dtype=lam.dtype)
    beta = optimizer.checked_momentum()

    def step(carry, k):
        m, m_prev, a, c, a_prev = carry
        gamma = optimizer.lr_at(k * batch / d) / d
        p = 1.0 + beta - gamma * lam
        weight = jnp.sum((z @ a) * z, axis=1) - 2.0 * r * (z @ m) + r**2
        noise = (z_t * weight[None, :]) @ z / n - lam[:, None] * a * lam[None, :]
        pc = p[:, None] * c
        a_next = (p[:, None] * a * p[None, :] - beta * (pc + pc.T) + beta**2 * a_prev
                  + (gamma**2 / batch) * noise)
        a_next = 0.5 * (a_next + a_next.T)
        return p * m - beta * m_prev, m, a_next, p[:, None] * a - beta * c.T, a

    def observe(carry):
        a = jnp.diag(carry[2])
        return Observation(0.5 * jnp.sum(lam * a), {}, ModeMoments(a))

    m0, a0 = state.mean, state.second
    return Recursion((m0, m0, a0, a0, a0), step, observe, problem.divergence_floor(),
                     "exact, the data set's distribution")


__all__ = ["DataSetRegression", "ErrorMoments", "exact_critical_lr"]
