"""simulate: finite-d runs of the problems of theory/, jitted and vmapped over seeds.

`simulate(problem, optimizer, steps | t=..., seeds=..., key=...)` is the one entry point. Each
family has its own public module here with one `AbstractSimulation` subclass
(docs/families.md); every public module of this package is imported at start-up, so a new
module is all a new family needs here.
"""

from theory._discover import import_public_modules

from ._family import SIMULATIONS, AbstractSimulation, FreshBatch, Instance, simulation_of
from ._sharding import SHARDS
from ._simulate import DTYPES, PRNGS, initial_states, plan_simulation, simulate

import_public_modules(__name__, __path__)

__all__ = ["simulate", "plan_simulation", "initial_states", "DTYPES", "PRNGS", "SHARDS",
           "AbstractSimulation", "Instance", "FreshBatch",
           "simulation_of", "SIMULATIONS"]
