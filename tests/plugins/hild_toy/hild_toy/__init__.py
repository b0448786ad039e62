"""A family and an optimizer from outside hild, installable as the package `hild-toy`: its
entry points (pyproject.toml) make `family = "toy"` and `kind = "sign_sgd"` work in every
`hild` command; without installing, `family = "hild_toy:NoisyQuadratic"` does (with this
folder on the path). Nothing in hild names it."""

from .sign_sgd import SignSGD
from .simulate import NoisyQuadraticSimulation
from .theory import NoisyQuadratic, ToyState

__all__ = ["NoisyQuadratic", "NoisyQuadraticSimulation", "SignSGD", "ToyState"]
