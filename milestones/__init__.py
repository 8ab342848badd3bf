"""Milestone content as data: one folder per milestone with ``milestone.yaml``,
``README.md`` (instructions), ``stub.py``, ``reference.py``, and the catalogue of
wrong solutions (``mutants.yaml``, see :mod:`milestones.mutants`) and valid ones
(``alternatives/``).

This package holds the schema and the loader; it imports neither ``challenge``
nor ``grader``.
"""

from milestones.registry import Registry, load_registry
from milestones.schema import FORMAT_VERSION, Hint, Milestone, MilestoneFormatError

__all__ = ["FORMAT_VERSION", "Hint", "Milestone", "MilestoneFormatError", "Registry", "load_registry"]
