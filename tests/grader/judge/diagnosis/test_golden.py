"""Golden tests of the differential diagnosis, over the catalogues of milestones 1-3: each
mutant's first failing test carries a diagnosis whose mistake id is the one the mutant
makes, and the reference and every alternative pass with no diagnosis and no hint.

Runs in process (``inprocess``): trusted code only, two to ten seconds a run on a busy machine, so
the mutants' test is marked slow (``challenge dev check`` in the fast suite holds the first failing test
to the same expect through the sandbox; this test also requires the diagnosis itself)."""

from __future__ import annotations

import pytest

from challenge.dev.catalogue import catalogue
from grader.judge.diagnosis import known_ids
from milestones import load_registry
from tests.grader.judge.diagnosis.inprocess import grade_in_process

REGISTRY = load_registry()
MILESTONES = [REGISTRY.get(name) for name in ("attention", "multihead", "block")]
KNOWN = set(known_ids())


def _entries(role: str) -> list:
    params = []
    for milestone in MILESTONES:
        entries, problems = catalogue(registry=REGISTRY, milestone=milestone)
        assert not problems, problems
        params += [pytest.param(milestone, entry, id=f"{milestone.id}-{entry.name}")
                   for entry in entries if entry.role in role.split("|")]
    return params


def _run(milestone, entry) -> list:
    return grade_in_process(milestone.folder, entry.text(), milestone.learner_file)


@pytest.mark.slow
@pytest.mark.parametrize(("milestone", "entry"), [p for p in _entries("mutant") if p.values[1].expect in KNOWN])
def test_first_failure_diagnoses_the_mutants_mistake(milestone, entry):
    results = _run(milestone, entry)
    failures = [t for t in results if t.status != "pass"]
    assert failures, f"{entry.name} survives"
    first = failures[0]
    assert first.diagnosis is not None, f"{first.name}: no diagnosis; message: {first.message[:300]}"
    assert entry.expect in first.diagnosis.mistake.split("+"), (first.name, first.diagnosis)
    assert first.diagnosis.summary and first.diagnosis.evidence


@pytest.mark.parametrize(("milestone", "entry"), _entries("reference|alternative"))
def test_a_valid_solution_gets_no_diagnosis_and_no_hint(milestone, entry):
    results = _run(milestone, entry)
    assert results and all(t.status == "pass" for t in results), [t.name for t in results if t.status != "pass"]
    assert not [t.name for t in results if t.diagnosis is not None or t.hint]
