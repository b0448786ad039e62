"""Real data: SGD on scikit-learn's digits (raw pixels, d = 64) predicted from the data set
alone — the exact recursion on its own distribution and the Gaussian equivalent — against 200
runs on rows drawn with replacement (`pip install "hild[data]"`; docs/theory.md, Real data)."""

import jax

jax.config.update("jax_enable_x64", True)

import hild

digits = hild.DataSetRegression.from_dataset("digits")
opt = hild.SGD(3.0, batch=4)
exact = hild.predict(digits, opt, t=20.0, num_points=60)
gauss = hild.predict(digits, opt, t=20.0, num_points=60, method="gaussian")
sim = hild.simulate(digits, opt, t=20.0, num_points=60, seeds=200, key=0)
print(f"{digits.n} rows, d = {digits.d}")
print("exact:   ", hild.agreement(exact, sim, checkpoints=10))
print("gaussian:", hild.agreement(gauss, sim, checkpoints=10))
hild.overlay(exact, sim, references=[gauss]).savefig("real_data.png")
