"""`hild ...` and `python -m hild ...`: the command line (`hild.compare.cli`).

SIGINT/SIGTERM are watched from the first import on (`hild.compare.interrupts.watch`,
before JAX starts its threads), so an interrupt at any moment stops the run cleanly.
"""

import sys

from hild.compare import interrupts


def main() -> None:
    interrupts.watch()
    from hild.compare.cli import main as cli_main

    sys.exit(cli_main(sys.argv[1:]))


if __name__ == "__main__":
    main()
