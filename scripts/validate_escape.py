"""Escape of spherical phase retrieval from the equator: escape time against log d, simulation
against the per-seed theory (docs/theory.md, Single-index models, What the validation measured).

For each d: simulate `seeds` runs (each its own random start, m0 ~ d^-1/2), measure every seed's
escape time τ (first t with |m| >= 1/2, interpolated; inf if not within the horizon), and
compare the median over seeds (robust to the few seeds whose m0 is near 0) with
(i) the per-seed ODE (`compare.per_seed_theory` from each seed's measured m0) and
(ii) the same with the linearised escape noise: near m = 0, μ = √d m obeys
dμ = aμ dt + √D dW (a = 4η(1 − 6η), D = 48η²), i.e. μ(t) ≈ e^{at}(μ0 + G), G ~ N(0, D/2a);
τ from the closed-form escape time of dm/dt = am − bm³ at m0 + G/√d, G sampled.
The slope of τ against log d is 1/(2a) for all three.

    python scripts/validate_escape.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import numpy as np

from hild import simulate
from hild import theory as th
from hild.compare import per_seed_theory, seed_states
from hild.theory.single_index import SingleIndex

M1 = 0.5


def crossing(t, alignment):
    """First t where alignment >= M1 (linear interpolation), per row; nan if never."""
    out = np.full(alignment.shape[0], np.inf)
    for i, row in enumerate(alignment):
        k = np.argmax(row >= M1)
        if row[k] >= M1 and k > 0:
            out[i] = t[k - 1] + (M1 - row[k - 1]) * (t[k] - t[k - 1]) / (row[k] - row[k - 1])
    return out


def closed_form_tau(m0, eta):
    a = b = 4 * eta * (1 - 6 * eta)
    m0 = np.abs(m0)
    return np.log(M1**2 * (a - b * m0**2) / (m0**2 * (a - b * M1**2))) / (2 * a)


def noisy_tau(m0, eta, d, draws=400):
    """τ of every seed's m0 plus the escape noise G ~ N(0, D/(2a d)), `draws` per seed: a
    sample of the predicted distribution of τ (its median is compared)."""
    a = 4 * eta * (1 - 6 * eta)
    sigma = np.sqrt(48 * eta**2 / (2 * a) / d)
    z = np.random.default_rng(0).standard_normal((m0.size, draws))
    return closed_form_tau(m0[:, None] + sigma * z, eta).ravel()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    eta = 0.05
    runs = [(250, 32), (1000, 16)] if args.quick else \
        [(250, 64), (500, 48), (1000, 32), (2000, 16), (4000, 8)]
    problem, opt = SingleIndex("quadratic", spherical=True), th.SGD(eta)
    rows = []
    for d, seeds in runs:
        t_end = 10 + 5 * np.log(d)
        start = time.time()
        sim = simulate.simulate(problem, opt, t=float(t_end), d=d, seeds=seeds, key=d,
                                num_points=241)
        t = np.asarray(sim.t)
        tau_sim = crossing(t, sim.values("alignment"))
        m0 = np.asarray(seed_states(sim).m, dtype=float)
        ode = [th.predict(problem, opt, t=float(t_end), num_points=241,
                          init={"m": m, "q": 1.0}).values("alignment") for m in m0]
        tau_ode = crossing(t, np.asarray(ode))
        tau_noise = noisy_tau(m0, eta, d)
        mean_curve = per_seed_theory(problem, opt, seed_states(sim), t=float(t_end), num_points=241)
        row = {"d": d, "seeds": seeds, "escaped": int(np.isfinite(tau_sim).sum()),
               "tau_sim": float(np.median(tau_sim)),
               "tau_per_seed_ode": float(np.median(tau_ode)),
               "tau_closed_form": float(np.median(closed_form_tau(m0, eta))),
               "tau_with_escape_noise": float(np.median(tau_noise)),
               "alignment_gap_max": float(np.max(np.abs(sim.mean("alignment") - mean_curve.values("alignment")))),
               "seconds": round(time.time() - start, 1)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    logd = np.log([r["d"] for r in rows])
    slope = {k: float(np.polyfit(logd, [r[k] for r in rows], 1)[0])
             for k in ("tau_sim", "tau_per_seed_ode", "tau_with_escape_noise")}
    print(json.dumps({"slope_vs_log_d": slope, "theory_slope_1_over_2a": 1 / (8 * eta * (1 - 6 * eta))}))


if __name__ == "__main__":
    main()
