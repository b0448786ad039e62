"""Predict, simulate, compare: the learning curve of online SGD on least squares from the
exact recursion and the high-d ODE, against 64 real runs at d = 300, scored at 10 checkpoints
(docs/theory.md, Agreement statistics)."""

import jax

jax.config.update("jax_enable_x64", True)  # theory runs in float64

import hild
from hild import schedules, spectra

spec = spectra.power_law(300, alpha=1.5)
problem = hild.LinearRegression(spec, spectra.power_law_teacher(spec, beta=1.2), noise=0.1)
opt = hild.SGD(lr=schedules.cosine(1.0, t_max=20.0), batch=4)

curve = hild.predict(problem, opt, t=20.0, num_points=100)                  # exact recursion
limit = hild.predict(problem, opt, t=20.0, num_points=100, method="limit")  # high-d ODE
sim = hild.simulate(problem, opt, t=20.0, num_points=100, seeds=64, key=0)
print(f"final risk: exact {float(curve.risk[-1]):.4f}, limit {float(limit.risk[-1]):.4f}, "
      f"simulated {float(sim.mean()[-1]):.4f} ± {float(sim.stderr()[-1]):.4f}")
print("exact:", hild.agreement(curve, sim, checkpoints=10))
print("limit:", hild.agreement(limit, sim, checkpoints=10))
print(f"critical constant lr at B = 4: {float(hild.critical_lr(problem, batch=4)):.3f}")
hild.overlay(curve, sim, references=[limit], logx=True).savefig("predict_simulate_compare.png")
