"""`python -m compare` is `hild`."""

from compare._entry import run

run()
