r"""Covariance spectra and targets for Gaussian-data problems.

Spectra are eigenvalues $\lambda_1 \ge \dots \ge \lambda_d \ge 0$ of $\Sigma$, normalised to
mean 1 ($\operatorname{tr}\Sigma = d$), so that with pre-activations $w\cdot x/\sqrt d$ an
O(1) learning rate is stable at every d. Targets are the teacher's coefficients $\theta^*$
in the eigenbasis, normalised so that $E[f^*(x)^2] = \sum_i \lambda_i \theta_i^{*2} = 1$.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .checks import check_dimension, check_range, is_concrete
from .fields import Numbers, read_call
from .registry import Registry

SPECTRA: Registry = Registry("spectrum kind")
TEACHERS: Registry = Registry("teacher kind")


def _normalise(eigs: np.ndarray) -> np.ndarray:
    return eigs / eigs.mean()


def isotropic(d: int) -> np.ndarray:
    r"""$\Sigma = I_d$."""
    check_dimension("d", d)
    return np.ones(d)


def power_law(d: int, alpha: float) -> np.ndarray:
    r"""$\lambda_i \propto i^{-\alpha}$, $i = 1..d$ (the capacity condition of kernel regression)."""
    check_dimension("d", d)
    check_range("alpha", alpha, low=0.0)
    return _normalise(np.arange(1, d + 1, dtype=np.float64) ** (-alpha))


def two_bulk(d: int, ratio: float = 10.0, fraction: float = 0.5) -> np.ndarray:
    r"""A fraction `fraction` of the eigenvalues at $\lambda_+$, the rest at $\lambda_+/\text{ratio}$."""
    check_dimension("d", d)
    check_range("ratio", ratio, low=1.0)
    check_range("fraction", fraction, low=0.0, high=1.0)
    high = int(round(fraction * d))
    return _normalise(np.concatenate([np.full(high, float(ratio)), np.ones(d - high)]))


def marchenko_pastur(d: int, aspect: float = 0.5) -> np.ndarray:
    r"""The d quantiles (at $(i - 1/2)/d$) of the Marchenko–Pastur law with ratio
    $c \in (0, 1]$: density $\sqrt{(b-x)(x-a)}/(2\pi c x)$ on $[a, b] = [(1\mp\sqrt c)^2]$,
    the spectrum of a sample covariance of $d/c$ isotropic samples."""
    check_dimension("d", d)
    check_range("aspect", aspect, low=0.0, high=1.0, low_open=True)
    a, b = (1 - np.sqrt(aspect)) ** 2, (1 + np.sqrt(aspect)) ** 2
    x = np.linspace(a, b, 200_001)
    density = np.sqrt(np.clip((b - x) * (x - a), 0.0, None)) / (2 * np.pi * aspect * x)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(x))])
    cdf /= cdf[-1]
    quantiles = np.interp((np.arange(d) + 0.5) / d, cdf, x)
    return _normalise(np.sort(quantiles)[::-1].copy())


for _fn in (isotropic, power_law, two_bulk, marchenko_pastur):
    SPECTRA.register(_fn.__name__, _fn)


def check_spectrum(name: str, spectrum) -> np.ndarray:
    """A non-empty 1-D array of finite eigenvalues >= 0 with a positive one."""
    spectrum = np.asarray(spectrum, dtype=np.float64)
    if spectrum.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of eigenvalues (got shape {spectrum.shape})")
    if spectrum.size == 0:
        raise ValueError(f"{name} must be a non-empty list of eigenvalues")
    check_range(name, spectrum, low=0.0)
    if not spectrum.sum() > 0:
        raise ValueError(f"{name} must have a positive entry (got all zeros)")
    return spectrum


def flat_teacher(spectrum) -> np.ndarray:
    r"""Equal coefficients $\theta^*_i = c$ with $\sum_i \lambda_i c^2 = 1$ (a traced
    spectrum, under jit/vmap/grad, gives a traced teacher)."""
    if not is_concrete(spectrum):
        return jnp.full(jnp.shape(spectrum), 1.0) / jnp.sqrt(jnp.sum(spectrum))
    spectrum = check_spectrum("spectrum", spectrum)
    return np.full(spectrum.shape, 1.0 / np.sqrt(spectrum.sum()))


def power_law_teacher(spectrum, beta: float) -> np.ndarray:
    r"""Source condition: the target's power in eigendirection i (in the order given),
    $\lambda_i \theta_i^{*2} \propto i^{-\beta}$, normalised to $\sum_i \lambda_i\theta_i^{*2} = 1$.
    Directions with $\lambda_i = 0$ get $\theta^*_i = 0$."""
    check_range("beta", beta, low=0.0)
    spectrum = check_spectrum("spectrum", spectrum)
    power = np.arange(1, spectrum.size + 1, dtype=np.float64) ** (-beta)
    power = np.where(spectrum > 0, power, 0.0)
    power /= power.sum()
    safe = np.where(spectrum > 0, spectrum, 1.0)
    return np.where(spectrum > 0, np.sqrt(power / safe), 0.0)


TEACHERS.register("flat", flat_teacher)
TEACHERS.register("power_law", power_law_teacher)



class Spectrum(Numbers):
    """A config's spectrum: a list of eigenvalues, or `{ kind = "power_law", d = ..., alpha = ... }`
    (the function of that name here, called with the table's fields)."""

    def read(self, table, key, given):
        if isinstance(table.raw(key), list):
            return np.asarray(table.numbers(key))
        spec = table.table(key)
        return read_call(SPECTRA[spec.string("kind", SPECTRA.names())], spec)


class Teacher(Numbers):
    """A config's teacher: a list of coefficients, or `{ kind = "power_law", beta = ... }`
    (computed on the spectrum read before it)."""

    def read(self, table, key, given):
        if isinstance(table.raw(key), list):
            return np.asarray(table.numbers(key))
        spec = table.table(key)
        return read_call(TEACHERS[spec.string("kind", TEACHERS.names())], spec,
                         spectrum=given["spectrum"])


__all__ = ["isotropic", "power_law", "two_bulk", "marchenko_pastur", "flat_teacher",
           "power_law_teacher", "SPECTRA", "TEACHERS", "Spectrum", "Teacher"]
