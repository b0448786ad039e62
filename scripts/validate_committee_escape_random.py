"""Escape from the committee's symmetric plateau for runs from a random initialisation
(K = M = 2, erf, v = v* = 1, η = 0.5, w_k ~ N(0, 0.1² I_d)): the escape times of ≥ 200 full
simulations per d against the per-seed ODE from each seed's measured start, with and without
the plateau's escape noise (G r/√d as in `escape_noise_starts`) (docs/theory.md, Escape from unstable fixed points).

    nice python scripts/validate_committee_escape_random.py [--d 100 200] [--seeds 200]
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.flatten_util

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from hild import simulate  # noqa: E402
from hild import theory as th  # noqa: E402
from hild.theory.committee import CommitteeMachine, Overlaps  # noqa: E402
from hild.theory.escape import escape_times  # noqa: E402

from validate_committee_escape import plateau  # noqa: E402

T_END = 600.0


def crossing(t, risk, level):
    below = risk <= level
    return np.where(below.any(-1), t[np.argmax(below, -1)], np.inf)


def quartiles(tau):
    q = np.quantile(tau, [0.25, 0.5, 0.75])
    boot = np.random.default_rng(0).choice(tau, (2000, tau.size))
    return q, np.std(np.quantile(boot, [0.25, 0.5, 0.75], axis=1), axis=1)


def per_seed(problem, opt, starts, t, level):
    def one(s):
        return th.predict(problem, opt, t=float(t[-1]), save_at=t, init=s).risk
    risk = np.stack([np.asarray(one(jax.tree.map(lambda a: a[i], starts)))
                     for i in range(starts.Q.shape[0])])
    return crossing(t, risk, level)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--d", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--seeds", type=int, default=200)
    args = parser.parse_args()
    opt = th.SGD(0.5)
    problem = CommitteeMachine(2, 2, "erf")
    fixed = plateau(problem, opt)
    level = float(problem.risk(fixed)) / 2
    on_plateau = CommitteeMachine(2, 2, "erf", init=fixed)
    for d in args.d:
        start = time.time()
        sim = simulate(problem, opt, t=T_END, d=d, seeds=args.seeds, key=d + 7, num_points=601,
                       dtype="float64")
        t, risk = np.asarray(sim.t), np.asarray(sim.risk)
        tau = crossing(t, risk, level)
        starts = jax.tree.map(lambda a: jnp.asarray(a)[:, 0], sim.state)
        starts = Overlaps(starts.Q, starts.R, starts.v)
        tau_ode = per_seed(problem, opt, starts, t, level)
        # the escape noise G r / sqrt(d) of `escape_noise_starts`, with the risk as the
        # observable (escape_noise_starts asks escape_times for "alignment", which the
        # committee does not have)
        law = escape_times(on_plateau, opt, d=d, fixed_point=fixed, observable="risk",
                           threshold=level, random_start=False)
        g = np.random.default_rng(d).standard_normal(args.seeds) * np.sqrt(law.noise / (2 * law.rate))
        flat = jax.vmap(lambda s: jax.flatten_util.ravel_pytree(s)[0])(starts)
        unravel = jax.flatten_util.ravel_pytree(jax.tree.map(lambda x: x[0], starts))[1]
        noisy = jax.vmap(unravel)(flat + jnp.asarray(g)[:, None] *
                                  jnp.asarray(law.direction)[None, :] / np.sqrt(d))
        tau_noisy = per_seed(problem, opt, noisy, t, level)
        q, se = quartiles(tau)
        out = {"d": d, "seeds": args.seeds, "escaped": int(np.isfinite(tau).sum()),
               "sim_quartiles": q.round(2).tolist(), "sim_quartile_se": se.round(2).tolist()}
        for name, x in (("per_seed_ode", tau_ode), ("per_seed_ode_noise_start", tau_noisy)):
            qq = np.quantile(x, [0.25, 0.5, 0.75])
            out[name] = qq.round(2).tolist()
            out[name + "_z"] = ((q - qq) / se).round(2).tolist()
        np.savez(f"/tmp/committee_escape_random_{d}.npz", tau=tau, tau_ode=tau_ode,
                 tau_noisy=tau_noisy)
        out["seconds"] = round(time.time() - start, 1)
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
