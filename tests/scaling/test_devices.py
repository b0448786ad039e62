"""Scale-out over devices (docs/scaling-out.md): 4 forced CPU devices against one device.

The pytest process has already started JAX with one device, so the 4-device side runs in a
subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=4 (this module's `main`);
the one-device side runs here, on the same code, and the two are compared.
"""

import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

from hild import simulate
from hild import theory as th
from hild.compare import config as config_mod
from hild.compare import tune
from hild.theory import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SEEDS = 5  # does not divide by 4 devices: padded to 8, the padding must not show


def _problems():
    spec = th.spectra.power_law(16, alpha=1.5)
    linreg = th.LinearRegression(spec, th.spectra.power_law_teacher(spec, beta=1.2), noise=0.1)
    committee = th.CommitteeMachine(K=2, M=2, activation="erf", noise=0.1)
    return linreg, committee


def _leaves(curve) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves((curve.risk, curve.state, curve.diverged_step))]


def results() -> dict[str, np.ndarray]:
    """Every sharded computation the tests compare, as flat numpy arrays."""
    linreg, committee = _problems()
    opt = th.SGD(0.8, batch=2)

    def sim(problem, **options):
        return simulate.simulate(problem, opt, t=1.0, seeds=SEEDS, key=7, num_points=4, **options)

    out = {}
    runs = {"linreg": sim(linreg, save_state=False),  # every device's seeds in one vmap
            "committee_block": sim(committee, d=16, seed_block=2, dtype="float64"),
            "committee_d": sim(committee, d=16, shard="d")}
    for name, curve in runs.items():
        for i, leaf in enumerate(_leaves(curve)):
            out[f"{name}/{i}"] = leaf
    candidates = tune.grid(lr=[0.2, 0.5, 1.0, 2.0, 4.0], batch=[1, 2])
    out["tune/0"] = np.stack(tune.evaluate_with_tiebreak(linreg, opt, candidates, 1.0, num_points=4,
                                                         chunk=3))
    out["devices"] = np.array(len(jax.devices()))
    try:
        sim(committee, d=18, shard="d")
    except ValueError as err:
        out["indivisible"] = np.array(str(err))
    return out


@pytest.mark.slow  # a fresh 4-device JAX process compiles every program again (~35 CPU-s)
def test_four_devices_match_one_device(tmp_path):
    path = tmp_path / "four.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "tests.scaling.test_devices", str(path)], cwd=ROOT,
                   env=env, check=True, timeout=600)
    with np.load(path) as data:
        four = dict(data)
    one = results()
    assert int(four.pop("devices")) == 4 and int(one.pop("devices")) == 1
    assert "d divisible by the number of devices (4)" in str(four.pop("indivisible"))
    assert set(four) == set(one)
    for name in one:
        assert four[name].shape == one[name].shape, name  # the padding seeds are cut
        if name.split("/")[0].endswith("_d"):  # sums over d split over devices: rounding
            scale = np.max(np.abs(one[name]))
            np.testing.assert_allclose(four[name], one[name], rtol=1e-5, atol=1e-6 * scale,
                                       err_msg=name)
        else:
            np.testing.assert_array_equal(four[name], one[name], err_msg=name)


def test_shard_options_are_checked():
    linreg, _ = _problems()
    for options, message in (({"shard": "rows"}, "shard must be one of seeds, d"),
                             ({"seed_block": 0}, "seed_block must be an integer >= 1"),
                             ({"shard": "d", "seed_block": 2}, "seed_block applies to shard='seeds'")):
        with pytest.raises(ValueError, match=message):
            simulate.simulate(linreg, th.SGD(0.5), t=1.0, seeds=2, key=0, **options)
    cfg = {"family": "linreg", "problem": {"spectrum": {"kind": "power_law", "d": 8, "alpha": 1.5}},
           "optimizer": {"lr": 0.5}, "horizon": {"t": 1.0}}
    job = config_mod.parse(dict(cfg, simulation={"shard": "d", "seed_block": 3}))
    assert job.simulation["shard"] == "d" and job.simulation["seed_block"] == 3
    with pytest.raises(ConfigError, match="simulation.shard: must be one of seeds, d"):
        config_mod.parse(dict(cfg, simulation={"shard": "rows"}))


if __name__ == "__main__":
    jax.config.update("jax_enable_x64", True)
    np.savez(sys.argv[1], **results())
