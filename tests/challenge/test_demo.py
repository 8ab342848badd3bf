"""The demo's simulated learner submits catalogued mutants as first tries."""

from __future__ import annotations

import pytest

from challenge.demo import SCRIPT
from milestones import load_registry
from milestones.mutants import mutant_source

REGISTRY = load_registry()


@pytest.mark.parametrize("scene", [s for s in SCRIPT if s.first_try], ids=lambda s: s.milestone)
def test_every_first_try_is_a_catalogued_mutant_that_applies(scene):
    folder = REGISTRY.folder(REGISTRY.get(scene.milestone))
    text = mutant_source(folder, scene.first_try)  # KeyError if renamed, StaleMutant if the reference moved
    assert text != (folder / "reference.py").read_text(encoding="utf-8")
