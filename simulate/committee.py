r"""Two-layer teacher–student networks at finite d: the real network trained by online SGD.

Each step draws B fresh inputs $x_b \sim N(0, I_d)$ and labels $y_b = \sum_m v^*_m
g(w^*_m\cdot x_b/\sqrt d) + \sigma\xi_b$; with $\Delta_b = f(x_b) - y_b$ the mean gradients
(`jax.grad` of the batch loss ½ mean Δ², the second layer's over d) in the scaled
parametrisation of `theory.committee` (docs/theory.md, Committee machines) are
$\hat g_{w_k} = \frac{1}{B\sqrt d}\sum_b v_k g'(\lambda_{kb})\Delta_b x_b$ (group
"first_layer") and, if trained, $\hat g_{v_k} = \frac{1}{Bd}\sum_b g(\lambda_{kb})\Delta_b$
(group "second_layer"); the optimizer applies its rates and momentum. Memory
O(seeds · (B + K + M) · d).

**The recorded risk is exact.** For $x \sim N(0, I_d)$ the local fields $(\lambda, \nu) =
(Wx, W^*x)/\sqrt d$ are jointly Gaussian with covariance $[[Q, R], [R^\top, T]]$ measured
on the weights, so the population risk $\tfrac12 E_x[(f - f^*)^2]$ of the current network is
the deterministic function `CommitteeMachine.risk` of $(Q, R, T, v)$ — no test set, no
sampling error: only the training trajectory is random.

**Initialisation.** The teacher has overlaps exactly T: Gaussian rows orthonormalised
(QR), scaled by $\sqrt d$, multiplied by a square root of T. With `problem.init` = None the
student draws $w_k \sim N(0, \sigma_0^2 I_d)$ ($\sigma_0$ = `init_scale`), each seed its own
(the theory can start from every seed's measured overlaps, see `Curve.state`). With
`problem.init` given, student and teacher are drawn jointly with exactly those overlaps,
so every seed starts at the theory's initial state.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from hild.theory import CommitteeMachine, Observation, Overlaps
from hild.theory.committee import norm_limit, observed_risk, sqrt_factor

from ._family import AbstractSimulation, Instance


def measure_overlaps(problem: CommitteeMachine, W, W_star, v) -> Overlaps:
    """The order parameters of finite-d weights: Q = W Wᵀ/d, R = W W*ᵀ/d, and v.

    `W` (K, d) student first layer, `W_star` (M, d) teacher, `v` (K,) student second layer
    (leading batch axes allowed)."""
    W, W_star = jnp.asarray(W), jnp.asarray(W_star)
    if W.shape[-2:-1] != (problem.K,) or W_star.shape[-2:-1] != (problem.M,) or \
            W.shape[-1] != W_star.shape[-1]:
        raise ValueError(f"W must have shape (..., {problem.K}, d) and W_star (..., {problem.M}, d) "
                         f"(got {W.shape} and {W_star.shape})")
    d = W.shape[-1]
    mT = lambda a: jnp.swapaxes(a, -1, -2)
    return Overlaps(W @ mT(W) / d, W @ mT(W_star) / d, jnp.asarray(v))


def _orthonormal_rows(key, n: int, d: int, dtype):
    """n orthonormal vectors of R^d (rows), uniformly random."""
    q, r = jnp.linalg.qr(jax.random.normal(key, (d, n), dtype))
    return (q * jnp.sign(jnp.diag(r))[None, :]).T


def draw_network(problem: CommitteeMachine, key, d: int, dtype=jnp.float32):
    """(W, W_star, v) of one seed: a teacher with overlaps exactly T and a student drawn as
    the module docstring says."""
    K, M = problem.K, problem.M
    k_rows, k_student = jax.random.split(key)
    if problem.init is None:
        rows = _orthonormal_rows(k_rows, M, d, jnp.float64 if dtype == jnp.float64 else jnp.float32)
        W_star = math.sqrt(d) * sqrt_factor(problem.T.astype(rows.dtype)) @ rows
        W = problem.init_scale.astype(dtype) * jax.random.normal(k_student, (K, d), dtype)
        return W, W_star.astype(dtype), problem.second_layer.astype(dtype)
    rows = _orthonormal_rows(k_rows, K + M, d, jnp.float64 if dtype == jnp.float64 else jnp.float32)
    cov = problem.covariance(problem.init).astype(rows.dtype)
    both = math.sqrt(d) * sqrt_factor(cov) @ rows
    return both[:K].astype(dtype), both[K:].astype(dtype), problem.init.v.astype(dtype)



class CommitteeSimulation(AbstractSimulation):
    problem = CommitteeMachine

    def dimension(self, problem: CommitteeMachine, d):
        if d is None:
            raise ValueError("d is required for the committee simulation (the problem has no d)")
        if d < problem.K + problem.M:
            raise ValueError(f"d must be >= K + M = {problem.K + problem.M} (got {d})")
        return d

    def draw(self, problem: CommitteeMachine, key, d, dtype) -> Instance:
        k_net, k_data = jax.random.split(key)
        W, W_star, v = draw_network(problem, k_net, d, dtype)
        T = W_star @ W_star.T / d
        q_limit = norm_limit(problem, measure_overlaps(problem, W, W_star, v))
        params = {"first_layer": W}
        if problem.train_second_layer:
            params["second_layer"] = v
        fixed = (W_star, T, v, problem.teacher_second_layer.astype(dtype),
                 problem.noise.astype(dtype), q_limit)
        return Instance(params, fixed, k_data)

    def sample(self, problem, fixed, key, batch):
        """Inputs x (B, d) and the teacher's noisy labels y (B,)."""
        W_star, _, _, v_star, noise, _ = fixed
        d, dtype = W_star.shape[1], W_star.dtype
        kx, kn = jax.random.split(key)
        x = jax.random.normal(kx, (batch, d), dtype)
        y = problem.act(x @ W_star.T / math.sqrt(d)) @ v_star + noise * jax.random.normal(kn, (batch,), dtype)
        return x, y

    def loss(self, problem, fixed, params, sample):
        """The batch's ½ mean (f(x) − y)², f = Σ_k v_k g(w_k·x/√d)."""
        x, y = sample
        W = params["first_layer"]
        v = params.get("second_layer", fixed[2])
        return 0.5 * jnp.mean((problem.act(x @ W.T / math.sqrt(x.shape[1])) @ v - y) ** 2)

    def gradient_scale(self, problem, params):
        return {"second_layer": 1.0 / params["first_layer"].shape[1]}

    def observe(self, problem, fixed, params) -> Observation:
        W_star, T, v_fixed, _, _, q_limit = fixed
        state = measure_overlaps(problem, params["first_layer"], W_star,
                                 params.get("second_layer", v_fixed))
        return Observation(observed_risk(problem, state, q_limit, T), {}, state)

    def metadata(self, problem, optimizer, d) -> dict:
        return {"init": "problem.init" if problem.init is not None else
                f"random (init_scale={float(problem.init_scale):g}, per seed)"}


__all__ = ["measure_overlaps", "draw_network", "CommitteeSimulation"]
