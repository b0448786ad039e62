"""Validation of the exact block recursions (docs/theory.md, Least squares: more optimizers):
theory against the mean of many seeds at every recorded point, d = 50 and d = 400.

`python scripts/validate_accelerated.py` prints one line per (optimizer, d): seeds, the
largest |z| over the recorded points and how many exceed 3. Minutes on 2 cores.
"""

import jax
import numpy as np

from hild import simulate
from hild import theory as th

jax.config.update("jax_enable_x64", True)

SETTINGS = [
    th.Nesterov(0.6, batch=4, momentum=0.7),
    th.Nesterov(1.2, batch=16, momentum=0.9),
    th.ASGD(0.6, 3.0, 0.25, 0.05, batch=4),
    th.Averaged(th.SGD(1.5, batch=4), start=2.0),
    th.Averaged(th.Nesterov(0.4, batch=4, momentum=0.5)),
    th.Averaged(th.ASGD(0.6, 3.0, 0.25, 0.05, batch=4), start=3.0),
]


def problem(d):
    spec = th.spectra.power_law(d, 1.5)
    return th.LinearRegression(spec, th.spectra.power_law_teacher(spec, 1.2), noise=0.3)


def main():
    for opt in SETTINGS:
        for d, seeds in ((50, 2000), (400, 400)):
            p = problem(d)
            curve = th.predict(p, opt, t=6.0, num_points=12)
            sim = simulate.simulate(p, opt, t=6.0, num_points=12, seeds=seeds, key=3,
                                    dtype="float64", save_state=False)
            z = ((sim.mean() - curve.risk) / sim.stderr())[1:]
            print(f"{opt.describe():60s} d={d:4d} seeds={seeds:5d} points={z.size} "
                  f"max|z|={np.max(np.abs(z)):.2f} n(|z|>3)={int(np.sum(np.abs(z) > 3))}",
                  flush=True)


if __name__ == "__main__":
    main()
