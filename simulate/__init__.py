"""hild.simulate: finite-d runs of the problems of theory/, jitted and vmapped over seeds.

`simulate(problem, optimizer, steps | t=..., seeds=..., key=...)` is the one entry point;
each family has its own module here and registers its simulator with `simulate_family`.
"""

from . import committee, linreg, sensing
from ._simulate import DTYPES, simulate, simulate_family
from .committee import measure_overlaps

__all__ = ["simulate", "simulate_family", "DTYPES", "linreg", "committee", "sensing",
           "measure_overlaps"]
