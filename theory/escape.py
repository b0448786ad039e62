r"""Escape from an unstable fixed point at finite d: the distribution of escape times.

Near an unstable fixed point $x^*$ of the family's ODE (the equator m = 0 of an even link on
the sphere, a committee's symmetric plateau) the deterministic drift vanishes and the
seed-to-seed noise of the linear-noise expansion (`theory.fluctuations`) is the whole story.
Along the leading unstable mode of $J = \partial F/\partial x$ (eigenvalue $a > 0$, right and
left eigenvectors r, l with $l^\top r = 1$) the scaled amplitude $\mu = \sqrt d\, l^\top(x -
x^*)$ obeys the 1-D Ornstein–Uhlenbeck equation $d\mu = a\mu\,dt + \sqrt{D_0}\,dW$,
$D_0 = l^\top D(x^*) l$, so $\mu(t)e^{-at} \to Z = \mu_0 + G$ with $G \sim N(0, D_0/2a)$,
$\mu_0 \sim N(0, l^\top(d\Sigma_0)l)$: $Z \sim N(0, s^2)$, $s^2 = l^\top(d\Sigma_0)l + D_0/(2a)$.
Once $|x - x^*| \gg d^{-1/2}$ the noise is negligible and the run follows the ODE started from
$x^* + (Z/\sqrt d)\, r$: with $T_\varepsilon$ the ODE's escape time from $x^* + \varepsilon r$,

$$\tau = T_\varepsilon + \frac1a \log\frac{\varepsilon\sqrt d}{|Z|},$$

so $\tau$ is a shifted $-\log$ of a half-normal: quantile p at $T_\varepsilon + \frac1a\log
(\varepsilon\sqrt d/(s\,h_{1-p}))$, $h_p = \Phi^{-1}((1+p)/2)$, and every quantile grows as
$\log d/(2a)$. docs/theory.md, Escape from unstable fixed points; Ben Arous, Gheissari,
Jagannath, arXiv 2003.10409; the same matching as Kramers' escape from an unstable point
(van Kampen ch. XI). Assumes a constant rate, B ≪ d, one dominant unstable mode.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from scipy.special import erfc, ndtri

from ._theories import theory_for
from .checks import check_int_range, check_range
from .optim import as_optimizer
from .protocols import Fluctuating


class EscapeTimes(NamedTuple):
    """The predicted law of the escape time τ at dimension d (module docstring)."""

    d: int
    rate: float
    noise: float
    start_variance: float
    t_eps: float
    eps: float
    direction: np.ndarray
    left: np.ndarray

    @property
    def scale(self) -> float:
        """s: the standard deviation of Z (start and escape noise together)."""
        return math.sqrt(self.start_variance + self.noise / (2 * self.rate))

    @property
    def slope(self) -> float:
        """dτ/d(log d) = 1/(2a), the same for every quantile."""
        return 1.0 / (2 * self.rate)

    def at(self, z) -> np.ndarray:
        """τ for the amplitude(s) Z."""
        return self.t_eps + np.log(self.eps * math.sqrt(self.d) / np.abs(z)) / self.rate

    def quantile(self, p) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        if np.any((p <= 0) | (p >= 1)):
            raise ValueError("quantile p must lie in (0, 1)")
        return self.at(self.scale * ndtri((2.0 - p) / 2))

    def cdf(self, t) -> np.ndarray:
        """P(τ <= t) = P(|Z| >= ε√d e^{-a(t - T_ε)})."""
        h = self.eps * math.sqrt(self.d) * np.exp(-self.rate * (np.asarray(t) - self.t_eps))
        return erfc(h / (self.scale * math.sqrt(2)))

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        return self.at(self.scale * np.random.default_rng(seed).standard_normal(n))


def escape_times(problem, optimizer, *, d: int, fixed_point, observable: str = "alignment",
                 threshold: float = 0.5, eps: float = 1e-6, init_covariance=None,
                 random_start: bool = True, method: str | None = None) -> EscapeTimes:
    """The law of the first time `observable` ("risk" or a named observable) crosses
    `threshold` for runs started at (or randomly around) the unstable `fixed_point` (a state).

    `random_start`: the runs start from the family's random start around the fixed point
    (`initial_covariance`; or `init_covariance`, d times it), else exactly at it."""
    check_int_range("d", d, 2, 2**31 - 1)
    check_range("eps", eps, low=0.0, high=1e-2, low_open=True)
    if not isinstance(problem, Fluctuating):
        raise TypeError(f"{problem.family} does not define increment_covariance (the "
                        "protocol Fluctuating): no escape-time law")
    optimizer = as_optimizer(optimizer)
    if callable(getattr(optimizer, "lr", None)):
        raise ValueError("escape_times needs a constant SGD.lr (the growth rate a is that of "
                         "a time-independent field)")
    theory, method = theory_for(problem, optimizer, method)
    dyn = theory.dynamics(problem, optimizer, fixed_point, method,
                          **type(problem).theory_options)
    x_star, unravel = ravel_pytree(dyn.init)
    field = lambda x: ravel_pytree(dyn.vector_field(0.0, unravel(x), None))[0]
    drift = float(jnp.max(jnp.abs(field(x_star))))
    if drift > 1e-8:
        raise ValueError(f"fixed_point is not a fixed point of the ODE (|F| = {drift:.3g})")
    jac = np.asarray(jax.jacfwd(field)(x_star))
    values, right = np.linalg.eig(jac)
    k = int(np.argmax(values.real))
    rate = float(values[k].real)
    if rate <= 0 or abs(values[k].imag) > 1e-9 * abs(rate):
        raise ValueError(f"fixed_point is not unstable along a real mode (leading eigenvalue "
                         f"{values[k]:.4g} of the ODE's Jacobian)")
    r = np.real(right[:, k])
    left_all = np.linalg.inv(right)
    l = np.real(left_all[k]) / np.real(left_all[k] @ right[:, k])
    noise = max(float(l @ np.asarray(problem.increment_covariance(optimizer, dyn.init, 0.0)) @ l),
                0.0)  # a Monte Carlo D may give -1e-17 along a noiseless mode
    n = x_star.shape[0]
    if init_covariance is None:
        init_covariance = problem.initial_covariance(dyn.init) if random_start else np.zeros((n, n))
    sigma0 = np.asarray(init_covariance, dtype=float)
    if sigma0.shape != (n, n):
        raise ValueError(f"init_covariance must have shape ({n}, {n}) (got {sigma0.shape})")
    if not (noise > 1e-12 * abs(rate) or float(l @ sigma0 @ l) > 0):
        raise ValueError("no noise along the unstable mode at fixed_point (D0 = "
                         f"{noise:.3g}): runs from it never leave; start them off it")
    t_eps = _ode_escape(dyn, unravel, x_star + eps * jnp.asarray(r, x_star.dtype), rate, eps,
                        observable, threshold, problem.ode_tolerances)
    return EscapeTimes(int(d), rate, noise, float(l @ sigma0 @ l), t_eps, float(eps), r, l)


def _quantity(observe, observable):
    def value(state):
        obs = observe(state)
        return obs.risk if observable == "risk" else obs.observables[observable]
    return value


def _ode_escape(dyn, unravel, x0, rate, eps, observable, threshold, tolerances) -> float:
    """The ODE's first crossing of `threshold` from x0 (dense grid, linear interpolation)."""
    rtol, atol, max_steps = tolerances
    value = _quantity(dyn.observe, observable)
    start = float(value(unravel(x0)))
    upward = start < threshold
    horizon = 4.0 * math.log(1.0 / eps) / rate
    ts = jnp.linspace(0.0, horizon, 4001)
    ys = diffrax.diffeqsolve(
        diffrax.ODETerm(lambda t, x, a: ravel_pytree(dyn.vector_field(t, unravel(x), a))[0]),
        diffrax.Tsit5(), t0=0.0, t1=horizon, dt0=None, y0=x0, saveat=diffrax.SaveAt(ts=ts),
        max_steps=max_steps, stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol)).ys
    v = np.asarray(jax.vmap(lambda x: value(unravel(x)))(ys))
    crossed = v >= threshold if upward else v <= threshold
    if not crossed.any():
        raise ValueError(f"the ODE from the fixed point does not reach {observable} = "
                         f"{threshold:g} within t = {horizon:.3g}: choose another threshold")
    i = int(np.argmax(crossed))
    t = np.asarray(ts)
    return float(t[i - 1] + (threshold - v[i - 1]) * (t[i] - t[i - 1]) / (v[i] - v[i - 1]))


def escape_noise_starts(problem, optimizer, states, *, d: int, fixed_point, key, **law):
    """Every seed's measured start plus the escape noise $G r/\\sqrt d$, $G \\sim N(0, D_0/2a)$
    (the per-seed ODE from these starts reproduces the law of τ; from the bare starts it lags
    by the missing G). `states`: the seeds' states (leading axis seeds); `law`: options of
    `escape_times` (e.g. observable="risk" and a threshold for a family without "alignment")."""
    law = escape_times(problem, optimizer, d=d, fixed_point=fixed_point, random_start=False, **law)
    flat = jax.vmap(lambda s: ravel_pytree(s)[0])(states)
    unravel = ravel_pytree(jax.tree.map(lambda x: x[0], states))[1]
    g = jax.random.normal(key, (flat.shape[0],), flat.dtype) * math.sqrt(law.noise / (2 * law.rate))
    moved = flat + g[:, None] * jnp.asarray(law.direction, flat.dtype)[None, :] / math.sqrt(d)
    return jax.vmap(unravel)(moved)


__all__ = ["EscapeTimes", "escape_times", "escape_noise_starts"]
