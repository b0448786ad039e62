"""The README's Python examples run as written, in order (the README must stay true)."""

import re
from pathlib import Path

import matplotlib

README = Path(__file__).parents[1] / "README.md"


def test_readme_python_examples_run(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert len(blocks) == 3, "expected the predict, tune and real-data examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), namespace)
    assert (tmp_path / "overlay.png").stat().st_size > 10_000
    assert namespace["curve"].risk.shape == (200,)
    assert namespace["sched"].best_value < namespace["grid"].best_value  # a schedule helps
    assert namespace["exact"].risk[-1] < namespace["gauss"].risk[-1]  # digits: lighter tails
