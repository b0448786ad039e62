r"""Rank-one matrix sensing at finite d: the mini-batched prox-linear method itself.

Each iteration draws a fresh batch of $m = \delta d$ Gaussian sensing vectors (the only data
in memory: O(m d) per seed) and hands the optimizer the residuals $r_i = y_i - f_i(x_t)$ and
their Jacobian $G$ (rows $g_i = \nabla f_i(x_t)$) as matrix-free maps; `theory.ProxLinear`
takes the exact step $x_{t+1} = x_t + G^\top(GG^\top + (m/\eta) I_m)^{-1} r$ (docs/theory.md,
Rank-one matrix sensing; arXiv 2402.01599). The signals are $\mu^* = \nu^* = x^* = e_1$ (the
Gaussian design is rotation invariant), and every seed starts at the problem's state by
construction: $\mu_0 = \alpha e_1 + \beta e_2$, $\nu_0 = \gamma e_1 + \zeta e_2$. Parameter
groups: "mu", "nu" (bilinear) or "x" (symmetric).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from hild.theory import LeastSquaresBatch, Observation, RankOneSensing
from hild.theory.sensing import error_of, state_from_vector, state_vector

from ._family import AbstractSimulation, Instance


def measure(model: str, params: dict) -> jax.Array:
    """The state vector of finite-d iterates with signals e_1: (α, β, γ, ζ) for (μ, ν), or
    (α, β) for the symmetric model's x."""
    blocks = (params["mu"], params["nu"]) if model == "bilinear" else (params["x"],)
    out = []
    for v in blocks:
        out += [v[0], jnp.sqrt(jnp.sum(v[1:] ** 2))]
    return jnp.stack(out)


class RankOneSensingSimulation(AbstractSimulation):
    problem = RankOneSensing

    def dimension(self, problem, d):
        if d is None:
            raise ValueError("d is required for rank-one sensing (the problem does not fix it)")
        if d < 2:
            raise ValueError(f"d must be >= 2 for rank-one sensing (the signal and one orthogonal "
                             f"direction; got {d})")
        return d

    def draw(self, problem: RankOneSensing, key, d, dtype) -> Instance:
        theta = state_vector(problem.init)
        names = problem.parameter_groups()
        params = {}
        for i, name in enumerate(names):
            params[name] = jnp.zeros(d, dtype).at[0].set(theta[2 * i].astype(dtype)) \
                .at[1].set(theta[2 * i + 1].astype(dtype))
        return Instance(params, (problem.noise.astype(dtype), d), key)

    def sample(self, problem, fixed, key, m):
        """Sensing vectors a (m, d) (and b, bilinear) and the measurements y (m,)."""
        noise, d = fixed
        dtype = noise.dtype
        if problem.model == "bilinear":
            ka, kb, ke = jax.random.split(key, 3)
            a = jax.random.normal(ka, (m, d), dtype)
            b = jax.random.normal(kb, (m, d), dtype)
            return a, b, a[:, 0] * b[:, 0] + noise * jax.random.normal(ke, (m,), dtype)
        ka, ke = jax.random.split(key)
        a = jax.random.normal(ka, (m, d), dtype)
        return a, a[:, 0] ** 2 + noise * jax.random.normal(ke, (m,), dtype)

    def linearize(self, problem, fixed, params, sample) -> LeastSquaresBatch:
        if problem.model == "bilinear":
            return _bilinear(params, sample)
        return _symmetric(params, sample)

    def observe(self, problem, fixed, params) -> Observation:
        theta = measure(problem.model, params)
        return Observation(error_of(problem.model, theta), {},
                           state_from_vector(problem.model, theta))

    def metadata(self, problem, optimizer, d) -> dict:
        return {"batch": optimizer.samples_per_step(d), "solver": optimizer.solver}


def _bilinear(params, sample) -> LeastSquaresBatch:
    """y = ⟨a, e1⟩⟨b, e1⟩ + σε; g_i = (s_i a_i, u_i b_i), u = a μ, s = b ν."""
    a, b, y = sample
    u, s = a @ params["mu"], b @ params["nu"]
    return LeastSquaresBatch(
        residual=y - u * s,
        jvp=lambda v: s * (a @ v["mu"]) + u * (b @ v["nu"]),
        vjp=lambda lam: {"mu": a.T @ (s * lam), "nu": b.T @ (u * lam)},
        row_norms2=s**2 * jnp.sum(a**2, axis=1) + u**2 * jnp.sum(b**2, axis=1))


def _symmetric(params, sample) -> LeastSquaresBatch:
    """y = ⟨a, e1⟩² + σε; g_i = 2 u_i a_i, u = a x."""
    a, y = sample
    u = a @ params["x"]
    psi = 2.0 * u
    return LeastSquaresBatch(
        residual=y - u**2,
        jvp=lambda v: psi * (a @ v["x"]),
        vjp=lambda lam: {"x": a.T @ (psi * lam)},
        row_norms2=psi**2 * jnp.sum(a**2, axis=1))
