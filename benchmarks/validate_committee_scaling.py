"""Validation of the committee d-scaling (docs/theory.md, Soft committee machines, What the
tests measured) at larger d than the suite affords: erf, K = 2 and 3 students, M = 2
teachers, η = 0.5, t in [0, 1.2], the paired z-scores at 10 checkpoints and the largest RMS
deviation of a run from its own theory, at d = 500 / 2000 / 8000 with 48 / 24 / 20 seeds
(1.7e9 Gaussian draws per K; the suite runs d = 500 / 1000 / 2000).

    PYTHONPATH=. python benchmarks/validate_committee_scaling.py   # minutes on 2 cores
"""

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np

from hild.compare import d_scaling
from tests.simulate.test_committee import scaling_run

DS, SEEDS = (500, 2000, 8000), (48, 24, 20)

if __name__ == "__main__":
    for K in (2, 3):
        ds, zs, gaps = scaling_run(K, ds=DS, seeds=SEEDS)
        print(
            f"K = {K}: max |z| "
            + " / ".join(f"{np.max(np.abs(z)):.2f}" for z in zs)
            + ", largest RMS deviation "
            + " / ".join(f"{g:.4f}" for g in gaps)
            + f", exponent {d_scaling(ds, gaps).exponent:.2f}"
        )
