"""The dev set of issue 23: plausible mistakes for milestones 1-3 that are not in their
``mutants.yaml``, kept as edits to each milestone's reference (same format). A mutant's
``expect`` lists words ("|"-separated) one of which the first failure's diagnosis must
contain for it to count as named or localised. Measured by ``bench/measure_diagnosis.py``;
never tuned to one entry."""

from __future__ import annotations

from pathlib import Path

from milestones.mutants import MutantCatalogue
from milestones.registry import read_yaml_mapping

HERE = Path(__file__).parent
FILES = {"attention": "attention.yaml", "multihead": "multihead.yaml", "block": "block.yaml"}


def mutants(milestone: str) -> list:
    return MutantCatalogue.model_validate(read_yaml_mapping(HERE / FILES[milestone])).mutants


def verdict(first, expect: str) -> str:
    """named | localised | wrong-name | neither, for the first failing test of a run."""
    diagnosis = getattr(first, "diagnosis", None)
    if diagnosis is None:
        return "neither"
    said = diagnosis.summary.lower().removeprefix("no known mistake matches: ")
    if said.startswith(("passes with", "fails with")):
        return "neither"  # a list of the probes that failed is not a place
    hit = any(word.strip() and word.strip() in said for word in expect.lower().split("|"))
    if diagnosis.mistake:
        return "named" if hit else "wrong-name"
    return "localised" if hit else "neither"
