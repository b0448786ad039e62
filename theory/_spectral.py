r"""Inputs $x = \sqrt\Lambda\, z$ in the eigenbasis of their covariance: the checks of a
spectrum and of teacher directions, and the grouping of coordinates by distinct eigenvalue
(docs/theory.md, Anisotropic inputs).

The per-eigenvalue ODEs of Collins-Woodfin, Paquette, Paquette, Seroussi (arXiv 2308.08977)
are linear in the per-coordinate overlaps with coefficients shared by all coordinates of
one eigenvalue, so the sums over each group of equal eigenvalues obey closed ODEs: the state
has one entry per distinct eigenvalue (G of them; G = 1 for isotropic data, G = d for a
spectrum without multiplicities).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_range
from .spectra import check_spectrum

NORM_TOLERANCE = 1e-6


class Groups(NamedTuple):
    """Distinct eigenvalues λ_g (G,), the fraction n_g/d of coordinates in each (G,), and each
    coordinate's group index (d,)."""

    eigs: np.ndarray
    fraction: np.ndarray
    index: np.ndarray


def group_spectrum(spectrum: np.ndarray) -> Groups:
    """The distinct eigenvalues in decreasing order."""
    eigs, index, counts = np.unique(-spectrum, return_inverse=True, return_counts=True)
    return Groups(-eigs, counts / spectrum.size, index.ravel())


def checked_spectrum(name: str, spectrum) -> np.ndarray:
    """A covariance spectrum: 1-D, finite, every eigenvalue >= 0 (positive semi-definite)."""
    spectrum = np.asarray(spectrum, dtype=np.float64)
    if spectrum.ndim == 1:
        check_range(name, spectrum, low=0.0)
    return check_spectrum(name, spectrum)


def checked_teacher(name: str, teacher, spectrum: np.ndarray) -> np.ndarray:
    r"""Teacher directions θ*_m (M, d) in the eigenbasis, normalised in the data's metric:
    $\sum_i \lambda_i\theta^*_{mi}\theta^*_{ni} = \delta_{mn}$ (each teacher field has unit
    variance; a single teacher may be given as a (d,) vector)."""
    teacher = np.asarray(teacher, dtype=np.float64)
    single = teacher.ndim == 1
    teacher = teacher[None, :] if single else teacher
    d = spectrum.size
    if teacher.ndim != 2 or teacher.shape[1] != d:
        raise ValueError(f"{name} must have {d} coefficients per direction, one per eigenvalue "
                         f"of the spectrum (got shape {np.shape(teacher)})")
    check_range(name, teacher)
    gram = (teacher * spectrum[None, :]) @ teacher.T
    err = float(np.abs(gram - np.eye(teacher.shape[0])).max())
    if err > NORM_TOLERANCE:
        what = "sum_i λ_i θ_i² = 1" if single else "sum_i λ_i θ_mi θ_ni = δ_mn"
        got = f"{float(gram[0, 0]):.6g}" if single else f"max deviation {err:.3g}"
        raise ValueError(f"{name} must be normalised in the data's metric, {what} (got {got})")
    return teacher


def random_teacher(spectrum: np.ndarray, M: int, seed: int = 0) -> np.ndarray:
    r"""M Gaussian directions (rows) made orthonormal in the data's metric,
    $\Theta\Lambda\Theta^\top = I_M$ (numpy's generator with `seed`)."""
    rows = np.random.default_rng(seed).standard_normal((M, spectrum.size))
    gram = (rows * spectrum[None, :]) @ rows.T
    vals, vecs = np.linalg.eigh(gram)
    return (vecs / np.sqrt(vals)[None, :]) @ vecs.T @ rows


def teacher_groups(teacher: np.ndarray, groups: Groups) -> np.ndarray:
    r"""$T_g = \sum_{i\in g}\theta^*_{\cdot i}\theta^{*\top}_{\cdot i}$ per group (G, M, M)."""
    outer = teacher[:, None, :] * teacher[None, :, :]
    sums = np.stack([np.bincount(groups.index, row, minlength=groups.eigs.size)
                     for row in outer.reshape(-1, teacher.shape[1])])
    return np.moveaxis(sums.reshape(teacher.shape[0], teacher.shape[0], -1), -1, 0)
