"""compare: theory next to simulation — overlays, agreement, d-scaling, tuning, benchmarks, CLI.

Nothing here knows a family by name: each family's problem class says what compare/ needs
(labels, stability limit, bench case, example config; docs/families.md). Submodules load on
first use, so the `hild` entry point starts light.
"""

import importlib

_EXPORTS = {"overlay": ".overlay", "agreement": ".agreement", "Report": ".agreement",
            "d_scaling": ".scaling", "ScalingFit": ".scaling", "confirm_tuning": ".confirm",
            "TuningCheck": ".confirm"}
_MODULES = ("bench", "config")

__all__ = [*_EXPORTS, *_MODULES]


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
