"""hild.compare: theory next to simulation — overlays, agreement, d-scaling, tuning,
benchmarks, the CLI.

Nothing here knows a family by name: it asks a family's problem class for what it needs
through the optional protocols of `hild.theory.protocols` (labels, stability limit, bench
case, scaling laws; docs/families.md). Names load on first use, so importing this package
(the CLI does, before it parses its arguments) imports no JAX.
"""

from typing import TYPE_CHECKING

from hild.theory.lazy import attach

# `agreement` and `overlay` are also module names here: the functions are hild.agreement,
# hild.overlay (or hild.compare.agreement.agreement, ...).
_EXPORTS = {
    "Report": ".agreement",
    "confirm_tuning": ".confirm", "TuningCheck": ".confirm",
    "per_seed_theory": ".per_seed", "seed_states": ".per_seed", "PER_SEED": ".per_seed",
    "d_scaling": ".scaling", "ScalingFit": ".scaling",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)

if TYPE_CHECKING:
    from . import bench, config, tune
    from .agreement import Report
    from .confirm import TuningCheck, confirm_tuning
    from .per_seed import PER_SEED, per_seed_theory, seed_states
    from .scaling import ScalingFit, d_scaling
