"""hild.theory: deterministic learning curves of high-dimensional learning problems.

`predict(problem, optimizer, steps | t=...)` is the one entry point; each family lives in
its own module (`theory.linreg`, ...) and registers its theory with `predict_family`.
"""

from . import schedules, spectra
from ._config import ConfigError, Table
from ._curve import Curve
from ._predict import Horizon, make_horizon, predict, predict_family
from ._problem import AbstractProblem, families, problem_class
from ._record import divergence_threshold, record_steps, record_times, scan_with_records
from .linreg import LinearRegression, ModeMoments, critical_lr
from .optim import SGD, AbstractOptimizer, optimizer_from_config
from .committee import CommitteeMachine, Overlaps, find_plateau, random_init
from .sensing import BilinearState, ProxLinear, RankOneSensing, SymmetricState

__version__ = "0.1.0"

__all__ = [
    "predict", "predict_family", "Horizon", "make_horizon", "Curve", "AbstractProblem", "AbstractOptimizer",
    "SGD", "LinearRegression", "ModeMoments", "critical_lr", "schedules", "spectra", "families",
    "problem_class", "optimizer_from_config", "record_steps", "record_times", "scan_with_records",
    "divergence_threshold", "ConfigError", "Table",
    "__version__",
]
__all__ += ["ProxLinear", "RankOneSensing", "BilinearState", "SymmetricState"]
__all__ += ["CommitteeMachine", "Overlaps", "find_plateau", "random_init"]
