"""`python -m compare` is `hild` (as is `python -m hild`)."""

from hild import main

main()
