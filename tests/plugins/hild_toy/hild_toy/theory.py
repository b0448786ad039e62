r"""Toy family, theory: SGD on a noisy isotropic quadratic, a closed-form learning curve.

Weights $w \in \mathbb{R}^d$, target $w^*$ with $\|w^*\|^2 = d$, start $w_0 = 0$. A sample is
$z \sim N(0, I_d)$ with loss $\frac{1}{2d}\|w - w^* - \sigma z\|^2$, so the mean gradient over a
batch of B is $\hat g = (w - w^* - \sigma\bar z)/d$ and SGD with momentum moves the error
$e = w - w^*$ as $e' = e - \eta\hat g + \beta(e - e_{\rm prev})$, $t = kB/d$.

Per coordinate, with $\gamma = \eta/d$ and $p = 1 + \beta - \gamma$, the mean factor
$\mu_k$ ($E[e_k] = \mu_k e_0$) and the second moments $a = E[e_i^2]$, $b = E[e_i e_{i,\rm prev}]$,
$c = E[e_{i,\rm prev}^2]$ obey exactly
$\mu' = p\mu - \beta\mu_{\rm prev}$, $a' = p^2 a - 2\beta p b + \beta^2 c + \gamma^2\sigma^2/B$,
$b' = pa - \beta b$, $c' = a$. Risk $\tfrac12 a$; observable "overlap" $E[w\cdot w^*]/d = 1 - \mu$.
High-d limit (η' = η/(1-β)): $da/dt = -(2\eta'/B) a + \eta'^2\sigma^2/B^2$, $d\mu/dt = -(\eta'/B)\mu$.
"""

from __future__ import annotations

from pathlib import Path

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array

from hild.theory import (ODE, SGD, AbstractProblem, BenchCase, Observation, Recursion,
                         check_integer, check_range, register_theory)


class ToyState(eqx.Module):
    """Per-coordinate second moment `a` of the error and the mean factor `mu`."""

    a: Array
    mu: Array


class NoisyQuadratic(AbstractProblem):
    """SGD on $\\frac{1}{2d}\\|w - w^* - \\sigma z\\|^2$ at dimension `d`, noise `noise`."""

    family = "toy"
    methods = {"exact": "recursion", "limit": "ode"}
    observable_labels = {"overlap": r"overlap $w\cdot w^*/d$"}
    example_config = Path(__file__).with_name("toy.toml")
    d: int = eqx.field(static=True)
    noise: float = eqx.field(default=0.0, converter=jnp.asarray)

    def __check_init__(self):
        check_integer("NoisyQuadratic.d", self.d)
        check_range("NoisyQuadratic.noise", self.noise, low=0.0)

    def describe(self):
        return f"noisy quadratic, d={self.d}, σ={float(self.noise):g}"

    def initial_state(self, init=None):
        return ToyState(jnp.asarray(1.0), jnp.asarray(1.0)) if init is None else init

    def parameter_groups(self):
        return ("weights",)

    def divergence_floor(self):
        return jnp.maximum(1.0, self.noise**2)

    def risk_label(self):
        return r"risk  $\frac{1}{2}E[e_i^2]$"

    def stability_limit(self, optimizer, method=None):
        return 2.0 * self.d if float(optimizer.momentum) == 0 else None  # |1 - η/d| < 1

    @classmethod
    def bench_case(cls, quick=False):
        return BenchCase(cls(50, 0.5), SGD(0.5), {"t": 4.0, "num_points": 20},
                         {"seeds": 4}, "lr", jnp.linspace(0.1, 1.0, 100), {"t": 4.0, "num_points": 20})


@register_theory(NoisyQuadratic, SGD)
def sgd_theory(problem: NoisyQuadratic, optimizer: SGD, state: ToyState, method: str):
    """The exact recursion of the module docstring, or its high-d limit."""
    batch = jnp.asarray(optimizer.batch, dtype=float)
    beta = optimizer.checked_momentum()
    var = problem.noise**2
    observe = lambda s: Observation(0.5 * s[0], {"overlap": 1.0 - s[1]}, ToyState(s[0], s[1]))
    if method == "limit":
        def field(t, s, args):
            eta = optimizer.lr_at(t) / (1.0 - beta)
            return (-(2 * eta / batch) * s[0] + (eta / batch) ** 2 * var, -(eta / batch) * s[1])

        return ODE((state.a, state.mu), field, observe, problem.divergence_floor(), "high-d ODE")

    def step(carry, k):
        a, b, c, mu, mu_prev = carry
        gamma = optimizer.lr_at(k * batch / problem.d) / problem.d
        p = 1.0 + beta - gamma
        return (p**2 * a - 2 * beta * p * b + beta**2 * c + gamma**2 * var / batch,
                p * a - beta * b, a, p * mu - beta * mu_prev, mu)

    init = (state.a, state.a, state.a, state.mu, state.mu)
    return Recursion(init, step, lambda c: observe((c[0], c[3])), problem.divergence_floor(),
                     "exact recursion")
