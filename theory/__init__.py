"""hild.theory: deterministic learning curves of high-dimensional learning problems.

`predict(problem, optimizer, steps | t=...)` is the one entry point. Each family lives in its
own public module (`hild.theory.linreg`, `.committee`, `.sensing`, ...): an `AbstractProblem`
subclass and its theories, one registered function per (problem, optimizer) pair
(`register_theory`; docs/families.md). Names load on first use, so importing this package
imports no JAX; families and optimizers installed from outside hild are found by name
through the entry-point groups `hild.families` and `hild.optimizers`.
"""

from typing import TYPE_CHECKING

from .lazy import attach

_EXPORTS = {
    # entry point and results
    "predict": "._predict", "Horizon": "._predict", "make_horizon": "._predict",
    "ode_settings": "._predict", "Curve": "._curve",
    # the family contract
    "AbstractProblem": "._family", "Recursion": "._family", "ODE": "._family",
    "Closed": "._family", "Observation": "._family", "StepClock": "._family",
    "BenchCase": "._family", "MAX_STEPS": "._family", "DEFAULT_FAMILY": "._family",
    "EXACT": "._family", "LIMIT": "._family", "families": "._family",
    "family_names": "._family", "problem_class": "._family", "method_of": "._family",
    "check_parameter_groups": "._family",
    "register_theory": "._theories", "theory_for": "._theories", "has_theory": "._theories",
    "theories_of": "._theories", "Theory": "._theories",
    "Presentation": ".protocols", "Tunable": ".protocols", "ScalingLaw": ".protocols",
    "Benchmarked": ".protocols", "Analysed": ".protocols", "Fluctuating": ".protocols",
    "check_range": ".checks", "check_integer": ".checks", "check_vector": ".checks",
    "checked": ".checks", "is_concrete": ".checks",
    "ConfigError": ".fields", "Table": ".fields", "Configurable": ".fields",
    "Registry": ".registry",
    # optimizers
    "AbstractOptimizer": ".optim", "SGD": ".optim", "ProxLinear": ".optim",
    "LeastSquaresBatch": ".optim", "optimizer_from_config": ".optim",
    "optimizer_class": ".optim", "as_optimizer": ".optim",
    "Nesterov": ".accelerated", "ASGD": ".accelerated", "Averaged": ".accelerated",
    "AdaptiveSGD": ".adaptive", "Optax": ".transforms",
    "Adam": ".coordinatewise", "RMSprop": ".coordinatewise", "SignDescent": ".coordinatewise",
    # shared machinery
    "Grid": "._record", "record_grid": "._record", "record_steps": "._record",
    "record_times": "._record", "scan_with_records": "._record",
    "divergence_threshold": "._record",
    "use_compilation_cache": "._cache", "cache_dir": "._cache",
    "exported_programs": "._exported",
    # families
    "LinearRegression": ".linreg", "ModeMoments": ".linreg", "critical_lr": ".linreg",
    "critical_rate": ".linreg",
    "stability_limit": ".stability", "rate_note": ".stability",
    "CommitteeMachine": ".committee", "Overlaps": ".committee", "find_plateau": ".committee",
    "random_init": ".committee",
    "RankOneSensing": ".sensing", "BilinearState": ".sensing", "SymmetricState": ".sensing",
    "DataSetRegression": ".dataset", "ErrorMoments": ".dataset",
    "SingleIndex": ".single_index", "SingleIndexState": ".single_index",
    "information_exponent": ".single_index", "hermite_coefficients": ".single_index",
    "GaussianMixture": ".gaussian_mixture", "MixtureState": ".gaussian_mixture",
    "FullBatchRegression": ".fullbatch",
    "PowerLawRandomFeatures": ".power_law_rf", "compute_optimal_exponents": ".power_law_rf",
    "GLM": ".glm", "GLMState": ".glm", "MultiIndex": ".multi_index",
    "MultiIndexState": ".multi_index", "MultiPassRegression": ".multipass",
    # beyond the mean curve
    "fluctuations": ".fluctuations", "Spread": ".fluctuations", "spread_score": ".fluctuations",
    "SpreadScore": ".fluctuations", "escape_times": ".escape", "EscapeTimes": ".escape",
    "escape_noise_starts": ".escape", "overlap_map": ".large_batch",
    "map_critical_lr": ".large_batch", "committee_map": ".large_batch",
    "committee_map_critical_lr": ".large_batch",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)

if TYPE_CHECKING:  # what static tools see; at run time the names load on first use
    from . import schedules, spectra
    from ._cache import cache_dir, use_compilation_cache
    from ._exported import exported_programs
    from ._curve import Curve
    from ._family import (DEFAULT_FAMILY, EXACT, LIMIT, MAX_STEPS, ODE, AbstractProblem,
                          BenchCase, Closed, Observation, Recursion, StepClock,
                          check_parameter_groups, families, family_names, method_of,
                          problem_class)
    from ._predict import Horizon, make_horizon, ode_settings, predict
    from ._record import (Grid, divergence_threshold, record_grid, record_steps, record_times,
                          scan_with_records)
    from ._theories import Theory, has_theory, register_theory, theories_of, theory_for
    from .accelerated import ASGD, Averaged, Nesterov
    from .adaptive import AdaptiveSGD
    from .coordinatewise import Adam, RMSprop, SignDescent
    from .checks import check_integer, check_range, check_vector, checked, is_concrete
    from .committee import CommitteeMachine, Overlaps, find_plateau, random_init
    from .dataset import DataSetRegression, ErrorMoments
    from .fields import ConfigError, Configurable, Table
    from .fullbatch import FullBatchRegression
    from .gaussian_mixture import GaussianMixture, MixtureState
    from .linreg import LinearRegression, ModeMoments, critical_lr, critical_rate
    from .optim import (SGD, AbstractOptimizer, LeastSquaresBatch, ProxLinear, as_optimizer,
                        optimizer_class, optimizer_from_config)
    from .power_law_rf import PowerLawRandomFeatures, compute_optimal_exponents
    from .escape import EscapeTimes, escape_noise_starts, escape_times
    from .fluctuations import Spread, SpreadScore, fluctuations, spread_score
    from .glm import GLM, GLMState
    from .large_batch import (committee_map, committee_map_critical_lr, map_critical_lr,
                              overlap_map)
    from .multi_index import MultiIndex, MultiIndexState
    from .multipass import MultiPassRegression
    from .protocols import (Analysed, Benchmarked, Fluctuating, Presentation, ScalingLaw,
                            Tunable)
    from .registry import Registry
    from .sensing import BilinearState, RankOneSensing, SymmetricState
    from .single_index import SingleIndex, SingleIndexState, hermite_coefficients, information_exponent
    from .stability import rate_note, stability_limit
    from .transforms import Optax
