"""Progress of a long run on stderr: a tqdm bar on a terminal, and plain log lines
(elapsed, done/total, ETA) every `every` seconds when stderr is a file or a pipe (a batch
job's log), so a job never stays silent longer than that, compilation included.
"""

from __future__ import annotations

import sys
import threading
import time

LOG_EVERY = 15.0
"""Seconds between two log lines when stderr is not a terminal."""


def duration(seconds: float) -> str:
    """`42.0 s`, `3 min 05 s`, `1 h 02 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Call as `progress(done, total)` (from any thread: JAX host callbacks run in their
    own); `close()` (or leave the `with` block) when the run ends.

    On a terminal: a tqdm bar. Otherwise: a line at the start, one every `every` seconds
    (also before the first report, e.g. while the program compiles) and one at the end.
    `quiet=True`: nothing. The ETA is measured from the first report, so compilation does
    not count in the rate; before two reports it reads "ETA unknown", never NaN.
    """

    def __init__(self, label: str, *, unit: str = "steps", stream=None, quiet: bool = False,
                 every: float = LOG_EVERY, terminal: bool | None = None):
        self.label, self.unit, self.every = label, unit, every
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()
        self.done = self.total = None
        self._first: tuple[float, int] | None = None  # (time, done) of the first report
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._bar = self._thread = None
        self.quiet = quiet
        if quiet:
            return
        if terminal is None:
            terminal = hasattr(self.stream, "isatty") and self.stream.isatty()
        if terminal:
            from tqdm import tqdm

            self._bar = tqdm(desc=label, unit=unit, file=self.stream, dynamic_ncols=True,
                             leave=True)
        else:
            self._write(f"{label}: started")
        self._thread = threading.Thread(target=self._heartbeat, daemon=True,
                                        name="hild-progress")
        self._thread.start()

    def __call__(self, done: int, total: int) -> None:
        if self.quiet or self._stop.is_set():
            return
        with self._lock:
            now = time.perf_counter()
            if self._first is None:
                self._first = (now, done)
            self.done, self.total = int(done), int(total)
            if self._bar is not None:
                if self._bar.total != total:
                    self._bar.total = total
                self._bar.update(self.done - self._bar.n)

    def eta(self) -> float | None:
        """Seconds left, from the rate since the first report; None while unknown."""
        if self._first is None or self.done is None or not self.total:
            return None
        t0, done0 = self._first
        rate = (self.done - done0) / max(time.perf_counter() - t0, 1e-9)
        if self.done >= self.total:
            return 0.0
        return (self.total - self.done) / rate if rate > 0 else None

    def line(self) -> str:
        """The log line: label, elapsed, done/total, ETA."""
        text = f"{self.label}: elapsed {duration(time.perf_counter() - self.start)}"
        if self.done is None:
            return text + ", ETA unknown"  # nothing reported yet (e.g. compiling)
        frac = self.done / self.total if self.total else 0.0
        eta = self.eta()
        return (text + f", {self.done}/{self.total} {self.unit} ({frac:.0%}), "
                + ("ETA unknown" if eta is None else f"ETA {duration(eta)}"))

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _heartbeat(self) -> None:
        period = 1.0 if self._bar is not None else self.every
        while not self._stop.wait(period):
            with self._lock:
                if self._bar is not None:
                    self._bar.refresh()  # the elapsed time moves while the program compiles
                else:
                    self._write(self.line())

    def close(self, completed: bool = False) -> None:
        """Stop reporting (`completed`: the run finished, so every step is done)."""
        if self.quiet or self._stop.is_set():
            return
        self._stop.set()
        self._thread.join()
        with self._lock:
            if completed and self.total is not None:
                self.done = self.total
                if self._bar is not None:
                    self._bar.update(self.done - self._bar.n)
            if self._bar is not None:
                self._bar.close()
            else:
                done = "" if self.done is None else f", {self.done}/{self.total} {self.unit}"
                self._write(f"{self.label}: finished in "
                            f"{duration(time.perf_counter() - self.start)}{done}")

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.close(completed=kind is None)


def say(message: str, *, quiet: bool = False) -> None:
    """One status line on stderr (none with `quiet`)."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)
