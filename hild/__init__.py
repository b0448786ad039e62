"""hild — high-dimensional learning dynamics: learning curves of SGD-type algorithms predicted
from low-dimensional deterministic equations, and checked against finite-d runs.

The everyday API, from one import (names load on first use: `import hild` imports no JAX):

    import hild
    problem = hild.LinearRegression(hild.spectra.power_law(500, 1.5), noise=0.1)
    curve = hild.predict(problem, hild.SGD(0.5, batch=4), t=40.0)           # theory
    runs = hild.simulate(problem, hild.SGD(0.5, batch=4), t=40.0, seeds=64, key=0)
    print(hild.agreement(curve, runs, checkpoints=10))

The packages: `hild.theory` (problems, optimizers, theories, `predict`), `hild.simulate`
(finite-d runs; the package is also callable as `simulate`), `hild.compare` (overlays,
agreement, tuning, scaling laws, benchmarks, the `hild` command).
"""

from typing import TYPE_CHECKING

from hild.theory.lazy import attach

__version__ = "0.2.0"

_THEORY = ("predict", "Curve", "critical_lr", "schedules", "spectra", "register_theory",
           "AbstractProblem", "AbstractOptimizer",
           "LinearRegression", "CommitteeMachine", "RankOneSensing", "DataSetRegression",
           "SingleIndex", "GaussianMixture", "FullBatchRegression", "PowerLawRandomFeatures",
           "SGD", "Nesterov", "ASGD", "Averaged", "AdaptiveSGD", "ProxLinear", "Optax")
_EXPORTS = {
    **{name: "hild.theory" for name in _THEORY},
    "agreement": "hild.compare.agreement", "overlay": "hild.compare.overlay",
    "per_seed_theory": "hild.compare", "d_scaling": "hild.compare",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)  # the subpackages load as such
__all__ += ["theory", "simulate", "compare", "__version__"]

if TYPE_CHECKING:
    from hild import compare, simulate, theory
    from hild.compare import d_scaling, per_seed_theory
    from hild.compare.agreement import agreement
    from hild.compare.overlay import overlay
    from hild.theory import (ASGD, SGD, AbstractOptimizer, AbstractProblem, AdaptiveSGD, Averaged,
                             CommitteeMachine, Curve, DataSetRegression, FullBatchRegression,
                             GaussianMixture, LinearRegression, Nesterov, Optax,
                             PowerLawRandomFeatures, ProxLinear, RankOneSensing, SingleIndex,
                             critical_lr, predict, register_theory, schedules, spectra)
