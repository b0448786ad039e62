"""SGD only, hild vs nmarzz/adam's SgdODE, timed in one run; accuracy against the 64-run
simulation stored in benchmarks/peer_adam.json (the same deterministic setting and key).

    python benchmarks/peer_sgd_quick.py --peer-git GIT --peer-python PY
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import peer_adam as pa

PEER_SGD = pa.PEER_RUNNER.replace('for name in ("sgd", "adam"):', 'for name in ("sgd",):')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--peer-git", required=True)
    parser.add_argument("--peer-python", required=True)
    args = parser.parse_args()
    import jax
    jax.config.update("jax_enable_x64", True)
    from hild import spectra
    from hild import theory as th
    stored = json.loads(Path(__file__).with_name("peer_adam.json").read_text())
    times = np.linspace(0.0, pa.T, pa.POINTS)
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pa.export_peer(args.peer_git, folder)
        pa.PEER_RUNNER = PEER_SGD
        for d in (1000, 4000):
            rng = np.random.default_rng(d)
            lam = np.asarray(spectra.power_law(d, 1.0))
            w0, ws = (v / np.linalg.norm(v) for v in rng.standard_normal((2, d)))
            problem = th.LinearRegression(lam, ws, noise=0.0, init=w0)
            case = {"spectrum": lam.tolist(), "init": w0.tolist(), "teacher": ws.tolist(),
                    "T": pa.T + 1.5 * pa.PEER_DT, "lr": pa.LR, "dt": pa.PEER_DT, "b1": pa.B1,
                    "b2": pa.B2, "samples": pa.PEER_SAMPLES}
            peer = pa.run_peer(args.peer_python, folder, case)["sgd"]
            spent = []
            for _ in range(3):
                start = time.perf_counter()
                curve = th.predict(problem, th.SGD(pa.LR), t=pa.T, num_points=pa.POINTS,
                                   method="limit")
                ours = np.asarray(curve.risk)
                spent.append(time.perf_counter() - start)
            row = stored["dims"][str(d)]["sgd"]
            mean, se = np.asarray(row["sim_mean"]), np.asarray(row["sim_se"])
            pt, pr = np.asarray(peer["t"]), np.asarray(peer["risk"])
            theirs = pr[[int(np.argmin(np.abs(pt - s))) for s in times]][1:]
            out[d] = {"hild_max_abs_z": float(np.max(np.abs((mean - ours[1:]) / se))),
                      "peer_max_abs_z": float(np.max(np.abs((mean - theirs) / se))),
                      "hild_cold_s": spent[0], "hild_warm_s": spent[1],
                      "peer_cold_s": peer["cold_s"], "peer_warm_s": peer["warm_s"],
                      "warm_speedup": peer["warm_s"] / spent[1]}
            print(d, out[d], flush=True)
    Path(__file__).with_name("peer_sgd_quick.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
