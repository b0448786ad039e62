"""A family defined outside hild's packages, to prove the family interface: importing this
package registers its theory and its simulator; nothing in theory/, simulate/ or compare/
knows it."""

from . import toy_simulate, toy_theory  # noqa: F401  (registration)
