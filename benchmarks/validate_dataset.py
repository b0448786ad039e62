"""Validation of the `dataset` family (docs/theory.md, Real data): the exact recursion on a
data set's own distribution and the Gaussian equivalent against SGD on its rows, the cost of
`predict`, and the Gaussian gap against the random-feature width.

    python benchmarks/validate_dataset.py            # a few minutes on 2 busy cores
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from hild import theory as th
from hild.compare.agreement import agreement
from hild.simulate import simulate

SEEDS = 1000
CASES = {  # name: (data, features, width, lr, batch, t)
    "digits raw pixels (examples/digits.toml)": ("digits", "raw", 0, 3.0, 4, 20.0),
    "digits raw pixels, B = 1": ("digits", "raw", 0, 1.0, 1, 20.0),
    "digits, 256 ReLU features": ("digits", "relu", 256, 6.0, 16, 20.0),
    "breast_cancer (standardised)": ("breast_cancer", "raw", 0, 0.2, 1, 20.0),
    "diabetes": ("diabetes", "raw", 0, 1.0, 1, 8.0),
}


def _warm_seconds(fn, repeats=5):
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def _deviation(theory_curve, sim):
    report = agreement(theory_curve, sim, checkpoints=10)
    mean = sim.mean()
    rel = np.abs(mean[1:] - np.asarray(theory_curve.risk)[1:]) / np.asarray(theory_curve.risk)[1:]
    return {"max_abs_z": report.max_abs_z, "max_rel": float(rel.max()), "mean_rel": float(rel.mean())}


def validate_case(name, data, features, width, lr, batch, t):
    problem = th.DataSetRegression.from_dataset(data, features, width=width or 256)
    opt = th.SGD(lr, batch=batch)
    horizon = {"t": t, "num_points": 60}
    exact = th.predict(problem, opt, **horizon)
    gauss = th.predict(problem, opt, **horizon, method="gaussian")
    wall, cpu = _warm_seconds(lambda: th.predict(problem, opt, **horizon).risk.block_until_ready(),
                              repeats=3 if problem.d > 100 else 5)
    sim = simulate(problem, opt, **horizon, seeds=SEEDS, key=11, dtype="float64", save_state=False)
    steps = int(np.asarray(exact.step)[-1])
    out = {"n": problem.n, "d": problem.d, "lr": lr, "batch": batch, "t": t, "steps": steps,
           "noise_variance": float(problem.noise_variance),
           "fourth_moment_ratio": problem.fourth_moment_ratio(),
           "gaussian_critical_lr": float(th.critical_lr(problem.gaussian_equivalent(), batch)),
           "exact": _deviation(exact, sim), "gaussian": _deviation(gauss, sim),
           "predict_warm_wall_s": wall, "predict_warm_cpu_s": cpu,
           "state_MB": 3 * problem.d**2 * 8 / 2**20, "data_MB": problem.n * problem.d * 8 / 2**20,
           "step_flops": 4 * problem.n * problem.d**2}
    print(name, json.dumps(out), flush=True)
    return out


def width_scan(widths=(32, 64, 128, 256), batch=16, t=20.0):
    """Max relative gap between the Gaussian and the exact theory on digits' ReLU features,
    at half the Gaussian critical lr of each width."""
    out = {}
    for width in widths:
        problem = th.DataSetRegression.from_dataset("digits", "relu", width=width)
        lr = 0.5 * float(th.critical_lr(problem.gaussian_equivalent(), batch))
        opt = th.SGD(lr, batch=batch)
        exact = np.asarray(th.predict(problem, opt, t=t, num_points=40).risk)
        gauss = np.asarray(th.predict(problem, opt, t=t, num_points=40, method="gaussian").risk)
        out[width] = {"lr": lr, "max_rel_gap": float(np.max(np.abs(gauss / exact - 1))),
                      "fourth_moment_ratio": problem.fourth_moment_ratio()}
        print("width", width, out[width], flush=True)
    return out


def decompose(data, lr, batch, t, features="raw"):
    """Final risk of the exact recursion (β = 0, constant lr) with one piece of its noise term
    replaced by the Gaussian one: the fourth moments F, or the residual terms (G, H)."""
    import jax.numpy as jnp

    problem = th.DataSetRegression.from_dataset(data, features)
    z, lam, r = problem.eigen_inputs(), problem.spectrum, problem.residual
    n, d = z.shape
    gamma, sigma2 = lr / d, problem.noise_variance
    steps = int(np.ceil(t * d / batch))

    def run(gaussian_f, gaussian_r):
        def step(carry, _):
            m, a = carry
            f = (2 * lam[:, None] * a * lam[None, :] + jnp.sum(lam * jnp.diag(a)) * jnp.diag(lam)
                 if gaussian_f else (z.T * jnp.sum((z @ a) * z, axis=1)[None, :]) @ z / n)
            res = (sigma2 * jnp.diag(lam) if gaussian_r
                   else (z.T * (r**2 - 2 * r * (z @ m))[None, :]) @ z / n)
            p = 1 - gamma * lam
            a = p[:, None] * a * p[None, :] + gamma**2 / batch * (f + res - lam[:, None] * a * lam[None, :])
            return (p * m, a), None

        m0 = problem.init - problem.teacher
        (_, a), _ = jax.lax.scan(step, (m0, jnp.outer(m0, m0)), None, length=steps)
        return float(0.5 * jnp.sum(lam * jnp.diag(a)))

    exact = run(False, False)
    out = {"exact": exact}
    for name, flags in (("gaussian_F", (True, False)), ("gaussian_residual", (False, True)),
                        ("gaussian_both", (True, True))):
        out[name] = run(*flags) / exact - 1
    print("decompose", data, json.dumps(out), flush=True)
    return out


def exact_critical_lr(data, batch=1, features="raw", iterations=400):
    """The largest constant lr (β = 0) at which the exact recursion's linear part,
    A -> PAP + (γ²/B)(F(A) - ΣAΣ), has spectral radius below 1 (power iteration from the
    identity: the map preserves PSD matrices; bisection in η)."""
    problem = th.DataSetRegression.from_dataset(data, features)
    z, lam = np.asarray(problem.eigen_inputs()), np.asarray(problem.spectrum)
    n, d = z.shape

    def radius(eta):
        gamma, p = eta / d, 1 - eta / d * lam
        a, rho = np.eye(d), 0.0
        for _ in range(iterations):
            f = (z.T * np.sum((z @ a) * z, axis=1)) @ z / n
            a = p[:, None] * a * p[None, :] + gamma**2 / batch * (f - lam[:, None] * a * lam[None, :])
            rho, a = np.linalg.norm(a), a / np.linalg.norm(a)
        return rho

    low, high = 0.0, 2 * d / lam[0] * batch
    for _ in range(30):
        mid = 0.5 * (low + high)
        low, high = (mid, high) if radius(mid) < 1 else (low, mid)
    out = {"exact": low, "gaussian": float(th.critical_lr(problem.gaussian_equivalent(), batch))}
    print("critical lr", data, batch, json.dumps(out), flush=True)
    return out


def main():
    results = {name: validate_case(name, *case) for name, case in CASES.items()}
    results["relu_width_scan"] = width_scan()
    results["decomposition"] = {data: decompose(data, *setting) for data, setting in (
        ("digits", (3.0, 4, 20.0)), ("diabetes", (1.0, 1, 8.0)), ("breast_cancer", (0.2, 1, 20.0)))}
    results["critical_lr"] = {data: exact_critical_lr(data) for data in ("breast_cancer", "diabetes")}
    path = Path(__file__).with_name("validate_dataset.json")
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
