"""theory: deterministic learning curves of high-dimensional learning problems.

`predict(problem, optimizer, steps | t=...)` is the one entry point. Each family lives in its
own public module here (`theory.linreg`, `theory.committee`, `theory.sensing`, ...) and
registers itself by subclassing `AbstractProblem` (docs/families.md); every public module of
this package is imported at start-up, so a new module is all a new family needs here.
"""

from . import schedules, spectra
from ._cache import cache_dir, use_compilation_cache
from ._checks import check_integer, check_range, check_vector, checked
from ._config import ConfigError, Table
from ._curve import Curve
from ._discover import import_public_modules
from ._family import (DEFAULT_FAMILY, ODE, AbstractProblem, BenchCase, Closed, Observation, Recursion,
                      StepClock, check_optimizer, families, problem_class)
from ._predict import Horizon, make_horizon, predict
from ._record import (Grid, divergence_threshold, record_grid, record_steps, record_times,
                      scan_with_records)
from .committee import CommitteeMachine, Overlaps, find_plateau, random_init
from .accelerated import ASGD, Averaged, Nesterov
from .adaptive import AdaptiveSGD
from .dataset import DataSetRegression, ErrorMoments
from .linreg import LinearRegression, ModeMoments, critical_lr, critical_rate
from .optim import SGD, AbstractOptimizer, LeastSquaresBatch, ProxLinear, optimizer_from_config
from .sensing import BilinearState, RankOneSensing, SymmetricState
from .gaussian_mixture import GaussianMixture, MixtureState
from .power_law_rf import PowerLawRandomFeatures, compute_optimal_exponents
from .single_index import SingleIndex, SingleIndexState, hermite_coefficients, information_exponent

import_public_modules(__name__, __path__)

__version__ = "0.1.0"

__all__ = [
    # entry point and results
    "predict", "Horizon", "make_horizon", "Curve",
    # the family interface
    "AbstractProblem", "Recursion", "ODE", "Closed", "Observation", "StepClock", "BenchCase",
    "families", "problem_class", "check_optimizer", "DEFAULT_FAMILY",
    "check_range", "check_integer", "check_vector", "checked",
    # optimizers, schedules, configs
    "AbstractOptimizer", "SGD", "Nesterov", "ASGD", "Averaged", "AdaptiveSGD", "ProxLinear", "LeastSquaresBatch", "optimizer_from_config",
    "ConfigError", "Table", "schedules", "spectra",
    # shared machinery
    "Grid", "record_grid", "record_steps", "record_times", "scan_with_records",
    "divergence_threshold", "use_compilation_cache", "cache_dir",
    # families
    "LinearRegression", "ModeMoments", "critical_lr", "critical_rate",
    "CommitteeMachine", "Overlaps", "find_plateau", "random_init",
    "RankOneSensing", "BilinearState", "SymmetricState",
    "DataSetRegression", "ErrorMoments",
    "SingleIndex", "SingleIndexState", "information_exponent", "hermite_coefficients",
    "GaussianMixture", "MixtureState",
    "PowerLawRandomFeatures", "compute_optimal_exponents",
    "__version__",
]
