"""A milestone's catalogue as dev check runs it: entries from mutants.yaml and alternatives/,
each run as the learner's file, and a stale mutant failing by name without running."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from challenge.dev import check as devcheck
from challenge.dev.catalogue import catalogue, learner_copy
from challenge.dev.check import DEFAULT_SEED, check_milestone
from milestones import load_registry
from milestones.mutants import StaleMutant

REGISTRY = load_registry()
ATTENTION = REGISTRY.get("attention")
SCORES = "    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T_q, T_k)\n"


@pytest.fixture
def runs(monkeypatch) -> list:
    """Replace the sandboxed run by a record of what would have run (every run 'passes')."""
    seen = []

    def fake_run_entry(*, entry, learner_file: Path, **_):
        seen.append((entry.label, learner_file.name, learner_file.read_text(encoding="utf-8")))
        return SimpleNamespace(status="pass", tests=[], message="", passed=0)

    monkeypatch.setattr(devcheck, "run_entry", fake_run_entry)
    return seen


def _copy_of_the_milestones(tmp_path: Path) -> Path:
    root = tmp_path / "milestones"
    shutil.copytree(REGISTRY.root, root, ignore=shutil.ignore_patterns("__pycache__", "tasks"))
    return root


def test_a_stale_entry_fails_by_name_without_running(tmp_path, runs):
    root = _copy_of_the_milestones(tmp_path)
    reference = root / ATTENTION.folder / "reference.py"
    text = reference.read_text(encoding="utf-8")
    assert text.count(SCORES) == 1
    reference.write_text(text.replace(SCORES, SCORES.replace("q @ k", "(q @ k)")), encoding="utf-8")  # a reformat
    registry = load_registry(root)
    items = {i.item: i for i in check_milestone(registry=registry, milestone=registry.get("attention"),
                                                  seeds=[DEFAULT_SEED])}
    stale = items["mutant no_scaling"]
    assert stale.status == "fail" and stale.got.startswith("stale")
    assert "edit 1: find text ('scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))" in stale.detail
    assert "occurs 0 times in reference.py" in stale.detail
    ran = {label for label, _, _ in runs}
    assert "mutant no_scaling" not in ran  # nothing ran for it
    assert {"stub", "reference", "mutant mask_inverted"} <= ran  # the others still ran
    assert items["mutant mask_inverted"].got.startswith("survived")  # judged on its (fake) run, not stale


def test_every_entry_runs_as_the_learner_file_with_its_own_text(runs):
    entries, _ = catalogue(registry=REGISTRY, milestone=ATTENTION)
    check_milestone(registry=REGISTRY, milestone=ATTENTION, seeds=[DEFAULT_SEED])
    assert len(runs) == len(entries)
    assert {name for _, name, _ in runs} == {ATTENTION.learner_file}
    texts = {label: text for label, _, text in runs}
    reference = (REGISTRY.folder(ATTENTION) / "reference.py").read_text(encoding="utf-8")
    assert texts["reference"] == reference
    no_scaling = texts["mutant no_scaling"]
    assert SCORES not in no_scaling and "    scores = q @ k.transpose(-2, -1)  # (..., T_q, T_k)  BUG: no scaling\n" \
        in no_scaling
    assert len({text for _, _, text in runs}) == len(runs), "two entries ran the same text"


def test_learner_copy_is_named_like_the_learner_file_and_removed_afterwards():
    with learner_copy("x = 1\n", ATTENTION) as path:
        assert path.name == "attention.py" and path.read_text(encoding="utf-8") == "x = 1\n"
    assert not path.exists() and not path.parent.exists()


def test_a_stale_entry_raises_when_its_text_is_asked_for(tmp_path):
    root = _copy_of_the_milestones(tmp_path)
    (root / ATTENTION.folder / "reference.py").write_text("nothing to edit here\n", encoding="utf-8")
    registry = load_registry(root)
    entries, _ = catalogue(registry=registry, milestone=registry.get("attention"))
    with pytest.raises(StaleMutant) as stale:
        next(e for e in entries if e.name == "mask_inverted").text()
    assert stale.value.name == "mask_inverted"


def test_an_alternative_can_be_an_edit_list_of_the_reference(tmp_path):
    """A valid solution one edit away from the reference lives in mutants.yaml's `alternatives:`, like a mutant."""
    from challenge.dev.catalogue import catalogue
    from milestones import MilestoneFormatError, load_registry
    from milestones.mutants import read_catalogue

    registry = load_registry()
    hand_coded = registry.get("hand_coded")
    entries, problems = catalogue(registry=registry, milestone=hand_coded)
    post_ln = next(e for e in entries if e.name == "post_ln")
    assert not problems and post_ln.role == "alternative" and post_ln.expected == "passes"
    assert "NORM_FIRST = False" in post_ln.text() and "NORM_FIRST = True" not in post_ln.text()
    (tmp_path / "mutants.yaml").write_text(
        "format_version: 1\nmutants:\n  - {name: same, description: d, expect: e, edits: [{find: a, replace: b}]}\n"
        "alternatives:\n  - {name: same, description: d, edits: [{find: a, replace: c}]}\n", encoding="utf-8")
    with pytest.raises(MilestoneFormatError, match="repeated"):
        read_catalogue(tmp_path)
