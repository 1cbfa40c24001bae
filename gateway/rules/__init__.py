"""The site's alarm rules compiled into the analytics core, with a name for every binding."""

from gateway.rules.book import RuleBook
from gateway.rules.parts import Binding

__all__ = ["Binding", "RuleBook"]
