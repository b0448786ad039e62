"""The README's Python examples run as written, in order (the README must stay true)."""

import re
from pathlib import Path

import matplotlib

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 4, "expected the predict, any-optimizer, tune and real-data examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "overlay.png").stat().st_size > 10_000
    assert namespace["curve"].risk.shape == (200,) and namespace["sweep"].shape == (1000,)
    adam = namespace["adam"]  # optax.adam as it is, simulated with no theory
    assert adam.metadata["seeds"] == 8 and adam.mean()[-1] < 0.5 * adam.mean()[0]
    assert namespace["sched"].best_value < namespace["grid"].best_value  # a schedule helps
    assert namespace["exact"].risk[-1] < namespace["gauss"].risk[-1]  # digits: lighter tails
