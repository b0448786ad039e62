"""hild against the peer nmarzz/adam (odes.py: SgdODE, AdamODE) on one setting both express.

Least squares (the peer's 'linreg': no label noise, one output), a power-law diagonal covariance
λ_j ∝ j^-1 (mean 1), a random start and teacher of unit norm (the peer's demo), SGD and Adam
(β1 = β2 = 0.5, ε = 0, the peer's demo values) at η = 0.5 (the peer's lr; per-step size η/d),
t = samples/d up to 5, at d = 1000 and 4000: hild's limit, the peer's ODE (forward Euler
dt = 0.01, its Monte Carlo with the demo's 300 samples) and 64 runs of the algorithm itself
(hild's simulation: optax.adam / SGD in the eigenbasis). Writes benchmarks/peer_adam.json:
warm and cold times, max |z| at 10 checkpoints, the gaps and their d-scaling exponents.

    python benchmarks/peer_adam.py --peer-git /path/to/nmarzz/adam/.git --peer-python PY

`--peer-git` is a clone (or bare git dir) of github.com/nmarzz/adam; its odes.py,
risks_and_discounts.py and utils.py are exported to a temporary folder (never copied into
hild). `--peer-python` is a Python with the peer's dependencies (jax, numpy, tqdm).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

T, POINTS, SEEDS, LR, B1, B2 = 5.0, 11, 64, 0.5, 0.5, 0.5
PEER_DT, PEER_SAMPLES = 0.01, 300

PEER_RUNNER = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
import jax, jax.numpy as jnp
from odes import AdamODE, SgdODE
case = json.load(open(sys.argv[2]))
lam = jnp.asarray(case["spectrum"], jnp.float32)
w0 = jnp.asarray(case["init"], jnp.float32)[:, None]
ws = jnp.asarray(case["teacher"], jnp.float32)[:, None]
out = {}
for name in ("sgd", "adam"):
    times = []
    for rep in range(2):  # cold, then warm
        start = time.perf_counter()
        if name == "sgd":
            risk, t, _ = SgdODE("linreg", key=jax.random.PRNGKey(rep)).run(
                w0, ws, lam, case["T"], case["lr"], dt=case["dt"])
        else:
            risk, t, _ = AdamODE("linreg", key=jax.random.PRNGKey(rep)).run(
                w0, ws, lam, case["T"], case["lr"], dt=case["dt"], beta1=case["b1"],
                beta2=case["b2"], eps=0.0, num_samples=case["samples"])
        risk = np.asarray(risk)
        times.append(time.perf_counter() - start)
    out[name] = {"t": np.asarray(t).tolist(), "risk": risk.tolist(), "cold_s": times[0],
                 "warm_s": times[1]}
json.dump(out, open(sys.argv[3], "w"))
"""


def export_peer(git_dir: str, folder: Path) -> str:
    commit = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "HEAD"], check=True,
                            capture_output=True, text=True).stdout.strip()
    for name in ("odes.py", "risks_and_discounts.py", "utils.py"):
        text = subprocess.run(["git", "--git-dir", git_dir, "show", f"HEAD:{name}"], check=True,
                              capture_output=True, text=True).stdout
        (folder / name).write_text(text)
    return commit


def run_peer(python: str, folder: Path, case: dict) -> dict:
    (folder / "case.json").write_text(json.dumps(case))
    (folder / "runner.py").write_text(PEER_RUNNER)
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TQDM_DISABLE": "1"}
    subprocess.run([python, str(folder / "runner.py"), str(folder), str(folder / "case.json"),
                    str(folder / "out.json")], check=True, env=env, capture_output=True)
    return json.loads((folder / "out.json").read_text())


def z_scores(risk_at, sim_mean, sim_se) -> np.ndarray:
    return (sim_mean - risk_at) / sim_se


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-git", required=True)
    parser.add_argument("--peer-python", required=True)
    parser.add_argument("--dims", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("-o", "--out", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()

    import jax
    jax.config.update("jax_enable_x64", True)
    from hild import simulate, spectra
    from hild import theory as th

    times = np.linspace(0.0, T, POINTS)
    report = {"setting": {"T": T, "lr": LR, "b1": B1, "b2": B2, "seeds": SEEDS,
                          "spectrum": "power law j^-1, mean 1", "noise": 0.0,
                          "peer_dt": PEER_DT, "peer_samples": PEER_SAMPLES}, "dims": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report["peer_commit"] = export_peer(args.peer_git, folder)
        for d in args.dims:
            rng = np.random.default_rng(d)
            lam = np.asarray(spectra.power_law(d, 1.0))
            w0, ws = (v / np.linalg.norm(v) for v in rng.standard_normal((2, d)))
            problem = th.LinearRegression(lam, ws, noise=0.0, init=w0)
            case = {"spectrum": lam.tolist(), "init": w0.tolist(), "teacher": ws.tolist(),
                    "T": T + 1.5 * PEER_DT, "lr": LR, "dt": PEER_DT, "b1": B1, "b2": B2,
                    "samples": PEER_SAMPLES}
            peer = run_peer(args.peer_python, folder, case)
            rows = {}
            for name, opt in (("sgd", th.SGD(LR)), ("adam", th.Adam(LR, b1=B1, b2=B2))):
                spent = []
                for _ in range(2):  # cold, then warm
                    start = time.perf_counter()
                    curve = th.predict(problem, opt, t=T, num_points=POINTS, method="limit")
                    np.asarray(curve.risk)
                    spent.append(time.perf_counter() - start)
                start = time.perf_counter()
                sim = simulate.simulate(problem, opt, t=T, num_points=POINTS, seeds=SEEDS, key=0,
                                        dtype="float64")
                sim_s = time.perf_counter() - start
                mean, se = sim.mean(), sim.stderr()
                ours = np.asarray(curve.risk)
                pt, pr = np.asarray(peer[name]["t"]), np.asarray(peer[name]["risk"])
                theirs = pr[[int(np.argmin(np.abs(pt - s))) for s in times]]
                check = slice(1, None)  # the 10 checkpoints after t = 0
                z_h, z_p = z_scores(ours, mean, se)[check], z_scores(theirs, mean, se)[check]
                rows[name] = {
                    "times": times[check].tolist(), "sim_mean": mean[check].tolist(),
                    "sim_se": se[check].tolist(), "hild": ours[check].tolist(),
                    "peer": theirs[check].tolist(),
                    "hild_max_abs_z": float(np.max(np.abs(z_h))),
                    "peer_max_abs_z": float(np.max(np.abs(z_p))),
                    "hild_max_rel_gap": float(np.max(np.abs(ours - mean)[check] / mean[check])),
                    "peer_max_rel_gap": float(np.max(np.abs(theirs - mean)[check] / mean[check])),
                    "hild_cold_s": spent[0], "hild_warm_s": spent[1],
                    "peer_cold_s": peer[name]["cold_s"], "peer_warm_s": peer[name]["warm_s"],
                    "warm_speedup": peer[name]["warm_s"] / spent[1], "simulation_s": sim_s}
                print(d, name, {k: v for k, v in rows[name].items() if not isinstance(v, list)},
                      flush=True)
            report["dims"][str(d)] = rows
    dims = [str(d) for d in args.dims]
    if len(dims) >= 2:
        ratio = math.log(args.dims[-1] / args.dims[0])
        report["gap_exponents"] = {
            f"{who}_{name}": math.log(report["dims"][dims[-1]][name][f"{who}_max_rel_gap"]
                                      / report["dims"][dims[0]][name][f"{who}_max_rel_gap"]) / ratio
            for who in ("hild", "peer") for name in ("sgd", "adam")}
    tmp_out = Path(args.out).with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(report, indent=1))
    tmp_out.replace(args.out)
    print(json.dumps(report.get("gap_exponents", {})))


if __name__ == "__main__":
    main()
