"""hild.theory: deterministic learning curves of high-dimensional learning problems.

`predict(problem, optimizer, steps | t=...)` is the one entry point; each family lives in
its own module (`theory.linreg`, `theory.committee`, `theory.sensing`) and registers its
theory with `predict_family`.
"""

from . import committee, linreg, schedules, sensing, spectra
from ._config import ConfigError, Table
from ._curve import Curve
from ._predict import Horizon, make_horizon, predict, predict_family
from ._problem import AbstractProblem, families, problem_class
from ._record import divergence_threshold, record_steps, record_times, scan_with_records
from .committee import CommitteeMachine, Overlaps, find_plateau, random_init
from .linreg import LinearRegression, ModeMoments, critical_lr
from .optim import SGD, AbstractOptimizer, ProxLinear, optimizer_from_config
from .sensing import BilinearState, RankOneSensing, SymmetricState

__version__ = "0.1.0"

__all__ = [
    # entry point and results
    "predict", "predict_family", "Horizon", "make_horizon", "Curve",
    # bases, optimizers, configs
    "AbstractProblem", "AbstractOptimizer", "SGD", "ProxLinear", "optimizer_from_config",
    "families", "problem_class", "ConfigError", "Table", "schedules", "spectra",
    # shared machinery for families
    "record_steps", "record_times", "scan_with_records", "divergence_threshold",
    # families
    "linreg", "LinearRegression", "ModeMoments", "critical_lr",
    "committee", "CommitteeMachine", "Overlaps", "find_plateau", "random_init",
    "sensing", "RankOneSensing", "BilinearState", "SymmetricState",
    "__version__",
]
