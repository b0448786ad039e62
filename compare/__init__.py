"""compare: theory next to simulation — overlays, agreement, d-scaling, tuning, benchmarks, CLI.

Nothing here knows a family by name: each family's problem class says what compare/ needs
(labels, stability limit, bench case, example config; docs/families.md).
"""

from . import bench, config
from .agreement import Report, agreement
from .confirm import TuningCheck, confirm_tuning
from .overlay import overlay
from .per_seed import PER_SEED, per_seed_theory, seed_states
from .scaling import ScalingFit, d_scaling

__all__ = ["overlay", "agreement", "Report", "d_scaling", "ScalingFit", "bench", "config",
           "confirm_tuning", "TuningCheck", "per_seed_theory", "seed_states", "PER_SEED"]
