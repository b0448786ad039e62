"""The `hild` console entry point: interrupts are watched before anything heavy is imported."""

import sys


def run() -> None:
    from compare import _interrupts

    _interrupts.watch()
    from compare.cli import main

    sys.exit(main(sys.argv[1:]))
