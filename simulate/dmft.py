r"""Real GD / persistent SGD on a sampled training set, the finite-d counterpart of `theory.dmft`.

Per seed: one training set of n = round(αd) samples, then `steps` steps of
$w \leftarrow (1 - \eta r)w - \frac{\eta}{\sqrt d}X^\top g$, $g_\mu = s^k_\mu\partial_\lambda
\ell(\lambda_\mu, y_\mu)$ (and for the mixture $b \leftarrow b - \frac\eta d\sum_\mu g_\mu$), the
selection $s^k_\mu$ drawn by the theory's own chain (`theory.dmft._selection`). Recorded at
every step: the overlaps (m, q, b), the train loss and train error; test observables are the
one-pass families' functions of (m, q, b) (exact for a fresh point).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from hild.theory.dmft import _selection, refresh_probability
from hild.theory.gaussian_mixture import GaussianMixture, MixtureState, margin_loss
from hild.theory.single_index import SingleIndex


def _run(x, y, w0, mu, s, *, lr, ridge, bias_lr, loss):
    d = x.shape[1]

    def objective(lam):
        return jnp.sum(jax.vmap(loss)(lam, y))

    def step(carry, sk):
        w, b = carry
        lam = x @ w / math.sqrt(d) + b
        g = sk * jax.grad(objective)(lam)
        record = (w @ mu / d, w @ w / d, b, jnp.mean(jax.vmap(loss)(lam, y)), jnp.mean(y * lam < 0))
        w = (1.0 - lr * ridge) * w - lr * (x.T @ g) / math.sqrt(d)
        return (w, b - bias_lr * jnp.sum(g) / d), record

    last = jnp.concatenate([s, jnp.zeros((s.shape[0], 1))], 1).T  # the final state: record only
    return jax.lax.scan(step, (w0, jnp.zeros(())), last)[1]


def simulate_mixture(problem: GaussianMixture, alpha, lr, steps, d, seeds, *, ridge=0.0,
                     batch_fraction=1.0, persistence=None, train_bias=True, key=0) -> dict:
    """`seeds` runs at dimension d; arrays (seeds, steps + 1) of m, q, b, train loss and error,
    and the test observables of `problem.observe`."""
    n = max(1, round(alpha * d))
    refresh = refresh_probability(lr, batch_fraction, persistence)
    rho, delta, sigma0 = float(problem.rho), float(problem.delta), float(problem.init_scale)

    def one(k):
        km, ky, kz, kw, ks = jax.random.split(k, 5)
        mu = jax.random.normal(km, (d,))
        mu = math.sqrt(d) * mu / jnp.linalg.norm(mu)
        y = jnp.where(jax.random.uniform(ky, (n,)) < rho, 1.0, -1.0)
        x = y[:, None] * mu[None, :] / math.sqrt(d) + math.sqrt(delta) * jax.random.normal(kz, (n, d))
        s = _selection(ks, n, steps, batch_fraction, refresh)
        return _run(x, y, sigma0 * jax.random.normal(kw, (d,)), mu, s, lr=lr, ridge=ridge,
                    bias_lr=lr if train_bias else 0.0,
                    loss=lambda lam, yy: margin_loss(problem.loss, yy * lam))

    m, q, b, train, wrong = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(key), seeds))
    test = jax.vmap(jax.vmap(lambda m, q, b: problem.observe(MixtureState(m, q, b))))(m, q, b)
    return {"m": m, "q": q, "b": b, "train_loss": train, "train_error": wrong,
            "test_loss": test.risk, **test.observables}


def simulate_single_index(problem: SingleIndex, alpha, lr, steps, d, seeds, *, ridge=0.0,
                          batch_fraction=1.0, persistence=None, key=0) -> dict:
    """As `simulate_mixture` for a single-index teacher, square loss, the student started at
    `problem`'s (m, q) = (0, σ0²)."""
    n = max(1, round(alpha * d))
    refresh = refresh_probability(lr, batch_fraction, persistence)
    link, act, noise = problem.g, problem.sigma, float(problem.noise)
    q0 = float(problem.initial_state().q)

    def one(k):
        kt, kx, kn, kw, ks = jax.random.split(k, 5)
        teacher = jax.random.normal(kt, (d,))
        teacher = math.sqrt(d) * teacher / jnp.linalg.norm(teacher)
        x = jax.random.normal(kx, (n, d))
        y = link(x @ teacher / math.sqrt(d)) + noise * jax.random.normal(kn, (n,))
        s = _selection(ks, n, steps, batch_fraction, refresh)
        return _run(x, y, math.sqrt(q0) * jax.random.normal(kw, (d,)), teacher, s, lr=lr,
                    ridge=ridge, bias_lr=0.0, loss=lambda lam, yy: 0.5 * (act(lam) - yy) ** 2)

    m, q, _, train, _ = jax.jit(jax.vmap(one))(jax.random.split(jax.random.key(key), seeds))
    return {"m": m, "q": q, "train_loss": train, "test_risk": jax.vmap(jax.vmap(problem.risk))(m, q)}


__all__ = ["simulate_mixture", "simulate_single_index"]
