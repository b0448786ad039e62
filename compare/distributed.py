"""`--distributed` for the run commands: join a multi-process JAX run; process 0 writes.

Each process runs the same command; `hild.theory.devices.initialize_distributed` reads the
standard environment (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID, or what JAX
detects under SLURM / Open MPI), the seeds and candidates are split over every process's
devices, every process gathers the results, and only process 0 writes the output folder.
docs/scaling-out.md has a SLURM example.
"""

from __future__ import annotations

import argparse

from hild.theory.fields import ConfigError

__all__ = ["add_flag", "is_writer", "start"]


def add_flag(parser: argparse.ArgumentParser) -> None:
    """Add `--distributed` (join a `jax.distributed` run; docs/scaling-out.md) to a subcommand."""
    parser.add_argument("--distributed", action="store_true",
                        help="join a multi-process run (jax.distributed, configured from the "
                             "environment: JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, "
                             "JAX_PROCESS_ID, or SLURM); process 0 writes the outputs")


def is_writer() -> bool:
    """True in the process that writes the outputs (process 0; the only one without
    `--distributed`)."""
    from hild.theory.devices import is_writer as writer

    return writer()


def start(args: argparse.Namespace) -> None:
    """Initialise jax.distributed if `--distributed` was given (a bad environment: ConfigError)."""
    if not getattr(args, "distributed", False):
        return
    from hild.theory.devices import initialize_distributed

    try:
        index, count = initialize_distributed()
    except (ValueError, RuntimeError) as err:
        raise ConfigError(f"--distributed: {err}") from None
    print(f"process {index} of {count}")
