"""A run reads the learner's file once: a save made while it runs (between the hash and the worker's
load, or before a worker restart, or during a training run) changes neither what is graded or trained
nor the hash that the record names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from challenge.run_requests import grade_request
from grader import api
from grader.engine.host import SandboxHost
from milestones import load_registry
from tests.grader.engine.test_training_budget import LEARNER, TinyTask

REPO = Path(__file__).resolve().parents[3]
BROKEN = "raise SystemExit('this text was saved while the run went on')\n"


@pytest.fixture
def saves_at_every_spawn(monkeypatch):
    """Overwrite the learner's file each time the judge starts a worker (the first, and every restart)."""
    saved: list[Path] = []
    spawn = SandboxHost.spawn

    def spawn_after_a_save(self, **kwargs):
        for path in saved:
            path.write_text(BROKEN, encoding="utf-8")
        return spawn(self, **kwargs)

    monkeypatch.setattr(SandboxHost, "spawn", spawn_after_a_save)
    return saved


def test_an_edit_during_a_grading_run_grades_and_records_the_text_read_first(tmp_path, saves_at_every_spawn):
    text = (REPO / "milestones" / "01_attention" / "reference.py").read_bytes()
    learner = tmp_path / "attention.py"
    learner.write_bytes(text)
    saves_at_every_spawn.append(learner)
    registry = load_registry()
    request = grade_request(registry=registry, milestone=registry.get("attention"), learner_file=learner,
                            passed=set(), seed=3)
    result = api.grade(request)
    assert learner.read_text() == BROKEN  # the save happened, before the worker loaded the source
    assert result.status == "pass", [(t.name, t.message) for t in result.tests if t.status != "pass"]
    assert result.learner_file_sha256 == hashlib.sha256(text).hexdigest()


def test_an_edit_during_a_training_run_records_the_text_that_trained(tmp_path, saves_at_every_spawn):
    learner = tmp_path / "tiny.py"
    learner.write_text(LEARNER, encoding="utf-8")
    trained = hashlib.sha256(learner.read_bytes()).hexdigest()
    saves_at_every_spawn.append(learner)
    outcome = api.train(api.TrainRequest(milestone_id="tiny", learner_file=learner, task=TinyTask(), budget_s=0.5,
                                         memory_mb=2048))
    assert learner.read_text() == BROKEN
    assert outcome.status == "trained", outcome.message
    assert outcome.learner_file_sha256 == trained
