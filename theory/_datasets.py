r"""Real data sets for least squares: loading, feature maps and preprocessing.

docs/theory.md, Real data. The data sets ship offline inside scikit-learn (the optional
`data` extra: `pip install 'hild[data]'`), imported only when one is loaded. Features are
the raw inputs or random ReLU features $\mathrm{relu}(Wx/\sqrt{d_{in}})$ (the map runs in jax).
Preprocessing puts every data set in hild's units: features with mean eigenvalue 1 of
$\Sigma = \frac1n X^\top X$ ($\operatorname{tr}\Sigma = d$), targets with mean square 1.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .registry import Registry

PREPROCESS = ("center", "standardize", "none")
FEATURES = ("raw", "relu")
EXTRA_HINT = "pip install 'hild[data]'"


class DataSet(NamedTuple):
    """A scikit-learn data set: its loader's name, the target it gives, and the
    preprocessing that suits its raw columns."""

    loader: str
    target: str
    preprocess: str


DATA_SETS: Registry[DataSet] = Registry("data set")
DATA_SETS.register("digits", DataSet("load_digits", "the digit 0..9 as a number", "center"))
DATA_SETS.register("breast_cancer", DataSet("load_breast_cancer", "malignant 0 / benign 1",
                                            "standardize"))
DATA_SETS.register("diabetes", DataSet("load_diabetes", "disease progression after a year",
                                       "center"))


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw inputs (n, d) and targets (n,) of a named data set, as float64 (copies of a
    cached read).

    **Raises:** ValueError naming `data` for an unknown name or when scikit-learn (the
    `data` extra) is missing.
    """
    if name not in DATA_SETS:
        raise ValueError(f"data must be one of {', '.join(DATA_SETS.names())} (got {name!r})")
    missing = missing_extra(name)
    if missing:
        raise ValueError(f"data: {missing}")
    x, y = _read(name)
    return x.copy(), y.copy()


@functools.cache
def _read(name: str) -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    bunch = getattr(datasets, DATA_SETS[name].loader)()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.float64)


def relu_features(inputs, width: int, key: int = 0) -> np.ndarray:
    r"""Random ReLU features $\phi(x) = \mathrm{relu}(W x/\sqrt{d_{in}})$, $W_{jk} \sim N(0, 1)$
    of shape `(width, d_in)` drawn from `jax.random.key(key)`; returns `(n, width)`."""
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)) or width < 1:
        raise ValueError(f"features.width must be an integer >= 1 (got {width!r})")
    if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
        raise TypeError(f"features.key must be an integer (got {key!r})")
    inputs = jnp.asarray(inputs, dtype=jnp.float64)
    weights = jax.random.normal(jax.random.key(int(key)), (int(width), inputs.shape[1]),
                                jnp.float64)
    return np.asarray(jax.nn.relu(inputs @ weights.T / np.sqrt(inputs.shape[1])))


def check_data(features, targets) -> tuple[np.ndarray, np.ndarray]:
    """`features` a finite (n, d) array with n >= 2, `targets` finite of length n."""
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 1:
        raise ValueError(f"X must be a 2-D array (rows, features) (got shape {x.shape})")
    if x.shape[0] < 2:
        raise ValueError(f"X must have at least 2 rows (got {x.shape[0]})")
    _check_finite("X", x)
    if y.shape != (x.shape[0],):
        raise ValueError(f"y must be a 1-D array of length {x.shape[0]}, one target per row of "
                         f"X (got shape {y.shape})")
    _check_finite("y", y)
    return x, y


def _check_finite(name: str, arr: np.ndarray) -> None:
    bad = np.argwhere(~np.isfinite(arr))
    if bad.size:
        where = ", ".join(str(int(i)) for i in bad[0])
        raise ValueError(f"{name} must be finite (got {arr[tuple(bad[0])]} at {name}[{where}], "
                         f"{len(bad)} non-finite entries)")


def prepare(features, targets, preprocess: str = "center") -> tuple[np.ndarray, np.ndarray]:
    """Checked, preprocessed features and targets in hild's units.

    `preprocess`: "center" subtracts each column's mean (a constant column becomes a zero
    column: a zero eigenvalue, legal); "standardize" also divides each column by its standard
    deviation (a constant column is an error); "none" leaves the columns. Then the features
    are scaled by one factor to $\\operatorname{tr}\\Sigma = d$, the targets (centred unless
    "none") to mean square 1.
    """
    x, y = check_data(features, targets)
    if preprocess not in PREPROCESS:
        raise ValueError(f"preprocess must be one of {', '.join(PREPROCESS)} (got {preprocess!r})")
    if preprocess != "none":
        x = x - x.mean(axis=0)
        y = y - y.mean()
    if preprocess == "standardize":
        std = x.std(axis=0)
        constant = np.flatnonzero(std <= 1e-12 * max(1.0, float(np.abs(x).max())))
        if constant.size:
            raise ValueError(f"X[:, {constant[0]}] is constant ({constant.size} constant columns):"
                             " it cannot be standardised; drop it or use preprocess = 'center' "
                             "(a constant column is a zero eigenvalue there)")
        x = x / std
    power = float(np.mean(np.sum(x**2, axis=1)))
    if not power > 0:
        raise ValueError("X: every column is constant (zero after preprocessing): nothing to learn from")
    target_power = float(np.mean(y**2))
    if not target_power > 0:
        raise ValueError("y: the targets are constant (zero after preprocessing): nothing to learn")
    return x * np.sqrt(x.shape[1] / power), y / np.sqrt(target_power)


def load_features(name: str, features: str = "raw", width: int = 256, key: int = 0,
                  preprocess: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A named data set's features and targets, prepared (`prepare`). Raw features take
    `preprocess` (default: the data set's); ReLU features are computed from the raw inputs
    prepared the data set's way, then take `preprocess` (default "center")."""
    if features not in FEATURES:
        raise ValueError(f"features must be one of {', '.join(FEATURES)} (got {features!r})")
    x, y = load(name)
    own = DATA_SETS[name].preprocess
    if features == "raw":
        return prepare(x, y, own if preprocess is None else preprocess)
    x, y = prepare(x, y, own)
    return prepare(relu_features(x, width, key), y, "center" if preprocess is None else preprocess)


def missing_extra(name: str) -> str | None:
    """Why data set `name` cannot load (scikit-learn missing), or None."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return f"{name!r} ships with scikit-learn, which is not installed: {EXTRA_HINT}"
    return None
