"""The site's alarm rules compiled into the analytics core, with a name for every binding."""

from gateway.rules.parts import Binding
from gateway.rules.rulebook import RuleBook

__all__ = ["Binding", "RuleBook"]
