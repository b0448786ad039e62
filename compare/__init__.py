"""hild.compare: theory next to simulation — overlays, agreement, d-scaling, benchmarks, CLI."""

from . import bench, config
from .agreement import Report, agreement
from .overlay import overlay
from .scaling import ScalingFit, d_scaling

__all__ = ["overlay", "agreement", "Report", "d_scaling", "ScalingFit", "bench", "config"]
