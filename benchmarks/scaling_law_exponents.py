"""Compute-optimal exponents of power-law random features measured from theory at three
(α, β) in phases I, II and III, against the predicted ones (docs/theory.md, Power-law random
features). Writes benchmarks/scaling_law_exponents_d<d_max>[_r<replicas>].json (the theory averaged
over `replicas` draws of W) and, at d_max = 4096, a frontier figure per phase.

    python benchmarks/scaling_law_exponents.py [d_max [replicas]]   # default 1024 (v = 4 d_max), 1

At d_max = 4096 the phase II figure is also the README's (docs/scaling_law_frontier.png).
"""

import json
import sys
import time
from pathlib import Path

import jax
import numpy as np

jax.config.update("jax_enable_x64", True)

from hild.compare.frontier import frontier, model_sizes
from hild.theory import SGD, PowerLawRandomFeatures

LR = 0.2  # the paper's constant gamma; stable at every size measured (0.5 is not: see docs)
POINTS = [(1.0, 0.3), (1.0, 0.7), (0.75, 1.25)]  # phases I, II, III


def main(d_max: int = 1024, replicas: int = 1) -> None:
    here = Path(__file__).parent
    results = []
    for alpha, beta in POINTS:
        start = time.perf_counter()
        problem = PowerLawRandomFeatures(alpha, beta, 4 * d_max, 8)
        fr = frontier(problem, SGD(LR), model_sizes(8, d_max, 4), np.geomspace(1e3, 1e10, 43),
                      replicas=replicas)
        seconds = time.perf_counter() - start
        if d_max == 4096 and replicas == 1:
            fig = fr.figure()
            fig.savefig(here / f"scaling_law_a{alpha:g}_b{beta:g}_d{d_max}.png")
            if fr.predicted["phase"] == "II":
                fig.savefig(here.parent / "docs" / "scaling_law_frontier.png")
        results.append({"alpha": alpha, "beta": beta, "replicas": replicas, "seconds": seconds,
                        **fr.summary()})
        print(f"alpha={alpha} beta={beta}: phase {fr.predicted['phase']}, d* exponent "
              f"{fr.fit.get('model_size', float('nan')):.3f} (predicted {fr.predicted['model_size']:.3f}), "
              f"loss exponent {fr.fit.get('loss', float('nan')):.3f} (predicted "
              f"{fr.predicted['loss']:.3f}), window {fr.fit.get('window')}, upper half of it "
              f"{fr.fit.get('upper_half')}, {seconds:.0f} s")
    suffix = f"_r{replicas}" if replicas > 1 else ""
    (here / f"scaling_law_exponents_d{d_max}{suffix}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
