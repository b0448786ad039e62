"""Escape-time distributions of spherical phase retrieval from the equator: quartiles of τ
(first t with |m| >= 1/2) of >= 200 runs per d against `theory.escape_times`
(docs/theory.md, Escape from unstable fixed points).

Runs at d = 500 ... 4000 use the exact overlap chain: with isotropic Gaussian inputs, one
batch-1 SGD step moves (m, q) through λ* = z1, λ = m z1 + sqrt(q − m²) z2 and
|x|² = z1² + z2² + χ²_{d−2} only (z1, z2 standard normal, the rest of x integrated out by
rotation invariance), so the chain of (m, q) below has the law of the full simulation's
overlaps, at O(1) instead of O(d) cost per step. The one liberty: χ²_{d−2} is drawn as a
normal of its mean and variance (it enters through η²E²|x|²/d², a change of order d^-2.5 per
step). It is checked against the full
simulation (`hild.simulate`) at d = 500 (quartiles, two-sample Kolmogorov–Smirnov).

    nice python scripts/validate_escape_distribution.py [--seeds 400] [--full-seeds 64]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import ks_2samp  # noqa: E402

from hild import simulate  # noqa: E402
from hild import theory as th  # noqa: E402
from hild.theory.escape import escape_times  # noqa: E402
from hild.theory.single_index import SingleIndex, SingleIndexState, _derivative  # noqa: E402
from validate_escape import M1, crossing  # noqa: E402  (same folder: the escape crossing time)

ETA = 0.05
CHUNK = 2000


def chain_escape_times(problem, eta, d, seeds, t_max, seed):
    """τ per seed from the exact (m, q) chain of spherical batch-1 SGD (module docstring);
    inf if not escaped by t_max. The start: m = cosine of a uniform direction."""
    g, sigma, dsigma = problem.g, problem.sigma, _derivative(problem.sigma)

    @jax.jit
    def chunk(m, tau, step0, key):
        k1, k2 = jax.random.split(key)
        z = jax.random.normal(k1, (CHUNK, 2, seeds))
        chi = (d - 2) + math.sqrt(2 * (d - 2)) * jax.random.normal(k2, (CHUNK, seeds))

        def one(carry, x):
            m, tau, step = carry
            z1, z2, chi = x[0][0], x[0][1], x[1]
            lam = m * z1 + jnp.sqrt(jnp.maximum(1.0 - m * m, 0.0)) * z2
            err = (g(z1) - sigma(lam)) * dsigma(lam)
            mm = m + eta / d * err * z1
            qq = 1.0 + 2 * eta / d * err * lam + (eta / d) ** 2 * err**2 * (z1**2 + z2**2 + chi)
            m_new = mm / jnp.sqrt(qq)
            t = (step + 1) / d
            tau = jnp.where(jnp.isinf(tau) & (jnp.abs(m_new) >= M1), t, tau)
            return (m_new, tau, step + 1), None

        (m, tau, _), _ = jax.lax.scan(one, (m, tau, step0), (z, chi))
        return m, tau

    key = jax.random.key(seed)
    key, k0 = jax.random.split(key)
    u = jax.random.normal(k0, (seeds, d))
    m = u[:, 0] / jnp.linalg.norm(u, axis=1)
    tau = jnp.full((seeds,), jnp.inf)
    step = 0
    while step < t_max * d and bool(jnp.any(jnp.isinf(tau))):
        key, sub = jax.random.split(key)
        m, tau = chunk(m, tau, jnp.asarray(step), sub)
        step += CHUNK
    return np.asarray(tau)


def quartiles(tau):
    return rounded(np.quantile(tau, [0.25, 0.5, 0.75]))


def rounded(values):
    return [round(float(x), 3) for x in values]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=400)
    parser.add_argument("--full-seeds", type=int, default=64)
    parser.add_argument("--full-d", type=int, default=500)
    parser.add_argument("--dims", type=int, nargs="+", default=[500, 1000, 2000, 4000])
    parser.add_argument("--save", default=None, help="write the escape times (npz) here")
    args = parser.parse_args()
    problem, opt = SingleIndex("quadratic", spherical=True), th.SGD(ETA)
    fixed = SingleIndexState(jnp.asarray(0.0), jnp.asarray(1.0))
    saved = {}
    if args.full_seeds:
        d = args.full_d
        law = escape_times(problem, opt, d=d, fixed_point=fixed)
        start = time.time()
        t_end = float(law.quantile(0.995))
        sim = simulate(problem, opt, t=t_end, d=d, seeds=args.full_seeds, key=11,
                       num_points=int(t_end * 10), dtype="float64")
        tau_full = crossing(np.asarray(sim.t), np.asarray(sim.values("alignment")))
        tau_chain = chain_escape_times(problem, ETA, d, args.seeds, t_end, seed=5)
        saved[f"full_{d}"], saved[f"chain_{d}"] = tau_full, tau_chain
        print(json.dumps({"check": "full simulation vs overlap chain", "d": d,
                          "full_seeds": args.full_seeds, "chain_seeds": args.seeds,
                          "full_escaped": int(np.isfinite(tau_full).sum()),
                          "full_quartiles": quartiles(tau_full[np.isfinite(tau_full)]),
                          "chain_quartiles": quartiles(tau_chain[np.isfinite(tau_chain)]),
                          "theory_quartiles": rounded(law.quantile([0.25, 0.5, 0.75])),
                          "ks_pvalue": round(float(ks_2samp(tau_full, tau_chain).pvalue), 3),
                          "seconds": round(time.time() - start, 1)}), flush=True)
    rows = []
    for d in args.dims:
        start = time.time()
        law = escape_times(problem, opt, d=d, fixed_point=fixed)
        t_max = float(law.quantile(0.999)) + 10
        tau = chain_escape_times(problem, ETA, d, args.seeds, t_max, seed=d)
        saved[f"chain_{d}"] = tau
        finite = tau[np.isfinite(tau)]
        boot = np.random.default_rng(0).choice(finite, (2000, finite.size))
        se = np.std(np.quantile(boot, [0.25, 0.5, 0.75], axis=1), axis=1)
        theory_q = law.quantile([0.25, 0.5, 0.75])
        row = {"d": d, "seeds": args.seeds, "escaped": int(finite.size),
               "sim_quartiles": quartiles(finite), "sim_quartile_se": [round(float(x), 3) for x in se],
               "theory_quartiles": rounded(theory_q),
               "z": [round(float(x), 2) for x in (np.quantile(finite, [0.25, 0.5, 0.75]) - theory_q) / se],
               "ks_pvalue_vs_theory": round(float(_ks_theory(finite, law)), 3),
               "seconds": round(time.time() - start, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    logd = np.log([r["d"] for r in rows])
    slopes = {name: [round(float(np.polyfit(logd, [r[name][i] for r in rows], 1)[0]), 3)
                     for i in range(3)] for name in ("sim_quartiles", "theory_quartiles")}
    print(json.dumps({"slope_vs_log_d_quartiles": slopes, "theory_1_over_2a": round(law.slope, 4)}))
    if args.save:
        np.savez(args.save, **saved)


def _ks_theory(sample, law):
    from scipy.stats import kstest
    return kstest(sample, law.cdf).pvalue


if __name__ == "__main__":
    main()
