"""Escape from the committee's symmetric plateau (K = M = 2, erf, v = v* = 1, η = 0.5):
runs started exactly at the plateau's fixed point against `theory.escape_times` (docs/theory.md,
Escape from unstable fixed points). The fixed point: the root of the field on the symmetric
subspace Q = [[q, c], [c, q]], R = r·1 (scipy root), c < q (the students differ).

    nice python scripts/validate_committee_escape.py [--d 100] [--seeds 200]
"""

from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.optimize import root  # noqa: E402

from hild import simulate  # noqa: E402
from hild import theory as th  # noqa: E402
from hild.theory._committee_ode import vector_field  # noqa: E402
from hild.theory.committee import CommitteeMachine, Overlaps  # noqa: E402
from hild.theory.escape import escape_times  # noqa: E402


def symmetric(z):
    q, c, r = z
    return Overlaps(jnp.array([[q, c], [c, q]]), jnp.full((2, 2), r), jnp.ones(2))


def plateau(problem, opt):
    field = vector_field(problem, opt)

    def g(z):
        o = field(0.0, symmetric(jnp.asarray(z)), None)
        return np.array([o.Q[0, 0], o.Q[0, 1], o.R[0, 0]])

    sol = root(g, [1.0, 0.4, 0.5], tol=1e-14)
    assert np.max(np.abs(sol.fun)) < 1e-12 and sol.x[1] < sol.x[0] - 1e-3, sol
    return symmetric(jnp.asarray(sol.x))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--d", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    opt = th.SGD(0.5)
    fixed = plateau(CommitteeMachine(2, 2, "erf"), opt)
    problem = CommitteeMachine(2, 2, "erf", init=fixed)
    level = float(problem.risk(fixed)) / 2
    for d in args.d:
        start = time.time()
        law = escape_times(problem, opt, d=d, fixed_point=fixed, observable="risk",
                           threshold=level, random_start=False)
        t_end = float(law.quantile(0.98))
        sim = simulate(problem, opt, t=t_end, d=d, seeds=args.seeds, key=d, num_points=401,
                       dtype="float64")
        t, risk = np.asarray(sim.t), np.asarray(sim.risk)
        below = risk <= level
        tau = np.where(below.any(1), t[np.argmax(below, 1)], np.inf)
        q = np.quantile(tau, [0.25, 0.5, 0.75])
        boot = np.random.default_rng(0).choice(tau, (2000, tau.size))
        se = np.std(np.quantile(boot, [0.25, 0.5, 0.75], axis=1), axis=1)
        theory = law.quantile([0.25, 0.5, 0.75])
        print(json.dumps({"d": d, "seeds": args.seeds, "plateau": {"q": float(fixed.Q[0, 0]),
                          "c": float(fixed.Q[0, 1]), "r": float(fixed.R[0, 0])},
                          "rate": law.rate, "noise": law.noise, "threshold": level,
                          "escaped_by_t_end": int(np.isfinite(tau).sum()), "t_end": t_end,
                          "sim_quartiles": [round(float(x), 2) for x in q],
                          "sim_quartile_se": [round(float(x), 2) for x in se],
                          "theory_quartiles": [round(float(x), 2) for x in theory],
                          "seconds": round(time.time() - start, 1)}), flush=True)


if __name__ == "__main__":
    main()
