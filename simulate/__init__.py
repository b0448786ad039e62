"""hild.simulate: finite-d runs of the problems of hild.theory, jitted and vmapped over seeds.

`simulate(problem, optimizer, steps | t=..., seeds=..., key=...)` is the one entry point;
the package itself is callable as it (`hild.simulate(problem, optax.adam(1e-3), ...)`). Each
family has its own module here with one `AbstractSimulation` subclass (docs/families.md);
any optimizer in optax's init/update form runs on any family, theory or not. Names load on
first use, so importing this package imports no JAX.
"""

import inspect
import sys
import types
from typing import TYPE_CHECKING

from hild.theory.lazy import attach

_EXPORTS = {
    "simulate": "._simulate", "plan_simulation": "._simulate", "initial_states": "._simulate",
    "check_basis": "._simulate", "chunk_size": "._simulate", "sample_bytes": "._simulate",
    "DTYPES": "._simulate", "PRNGS": "._simulate", "Plan": "._simulate",
    "AbstractSimulation": "._family", "Instance": "._family", "FreshBatch": "._family",
    "simulation_of": "._family", "weights_at_overlaps": "._family", "SIMULATIONS": "._family",
    "SHARDS": "._sharding", "AlongD": "._sharding",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS)


class _CallableModule(types.ModuleType):
    """`hild.simulate(...)` is `hild.simulate.simulate(...)`: the package and the function
    share a name in `import hild`."""

    def __call__(self, *args, **kwargs):
        return self.simulate(*args, **kwargs)

    @property
    def __signature__(self):
        return inspect.signature(self.simulate)


sys.modules[__name__].__class__ = _CallableModule

if TYPE_CHECKING:
    from ._family import (SIMULATIONS, AbstractSimulation, FreshBatch, Instance, simulation_of,
                          weights_at_overlaps)
    from ._sharding import SHARDS, AlongD
    from ._simulate import (DTYPES, PRNGS, Plan, check_basis, chunk_size, initial_states,
                            plan_simulation, sample_bytes, simulate)
