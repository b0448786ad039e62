"""`python -m hild.compare` is `hild` (as is `python -m hild`)."""

from hild.__main__ import main

main()
