"""Interrupts of the `hild` process: SIGINT/SIGTERM stop a run cleanly with exit 130/143 at
any moment (even inside a JAX compile or an import): staged outputs are discarded and previous outputs left as they were. `watch()`
runs before anything heavy is imported and before JAX starts its threads: the signals are
blocked in every thread and one watcher thread waits for them (`sigwait`). Signals that the
parent set to be ignored (a shell's background job ignores SIGINT) stay ignored.

This module holds the process's interrupt state (`ACTIVE`, `SWAP_LOCK`) and imports nothing
heavy: the entry point (`hild.__main__`) calls `watch()` first, and `compare.cli` and
`compare.output` read the state here, so nothing imports the entry point back.
"""

from __future__ import annotations

import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)
ACTIVE: list = []
"""Output folders being staged by this process (`compare.output.OutputFolder`)."""
SWAP_LOCK = threading.Lock()
"""Held while an output set is swapped into place; the watcher waits for it."""


def watch() -> None:
    """Turn SIGINT/SIGTERM into an immediate stop (exit 130/143) from a watcher thread, so a
    run inside XLA is interrupted at once and leaves the previous outputs as they were."""
    watched = {s for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    if not watched:
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)

    def watcher():
        signum = signal.sigwait(watched)
        with SWAP_LOCK:
            for folder in ACTIVE:
                folder.discard()
            kept = f"; {ACTIVE[0].path} is as it was" if ACTIVE else ""
            os.write(2, f"\nhild: interrupted ({signal.Signals(signum).name}){kept}\n".encode())
            os._exit(128 + signum)

    threading.Thread(target=watcher, name="hild-interrupts", daemon=True).start()


class held:
    """Hold back SIGINT/SIGTERM in this thread for a block (delivered when it ends)."""

    def __enter__(self):
        self.before = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)

    def __exit__(self, *exc):
        signal.pthread_sigmask(signal.SIG_SETMASK, self.before)
