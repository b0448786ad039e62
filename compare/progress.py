"""A minimal progress bar on stderr for long simulations (drawn only on a terminal)."""

from __future__ import annotations

import sys
import time


class ProgressBar:
    """Call as `bar(done, total)`; redraws at most 10 times a second."""

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        self.width = width
        self.start = time.perf_counter()
        self.last = 0.0
        self.enabled = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        frac = min(max(done / max(total, 1), 0.0), 1.0)
        elapsed = now - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {frac:4.0%} {elapsed:6.1f}s, ETA {eta:5.1f}s")
        self.stream.flush()

    def close(self) -> None:
        """End the progress line (a newline), if one was drawn."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
