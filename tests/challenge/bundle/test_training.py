"""A training milestone end to end: the shipped checkpoint is evaluated, and
`--retrain` re-runs the learner's training within its budget (slow)."""

from __future__ import annotations

import pytest

from challenge.bundle.pack import submit
from challenge.bundle.verify import VerifyOptions, verify_bundle
from challenge.record.workspace import init_workspace
from tests.challenge.bundle.conftest import requires_isolation
from tests.challenge.bundle.helpers import REPO, fake_pass, reference_source

pytestmark = [pytest.mark.slow, requires_isolation]


@pytest.mark.skipif(not (REPO / "grader" / "hidden" / "04_classifier").is_dir(),
                    reason="the classifier's hidden tests are not in place yet")
def test_a_trained_classifier_verifies_from_its_checkpoint_and_when_retrained(tmp_path, registry, data_dir):
    from challenge.feedback.grading import run_tests
    from challenge.training.run import train_milestone

    workspace = init_workspace(handle="ada", path=tmp_path / "ws")
    fake_pass(workspace, registry, "attention", source=reference_source())  # submit needs one pass
    classifier = registry.get("classifier")
    folder = workspace.milestone_dir(classifier.folder)
    folder.mkdir()
    (folder / classifier.learner_file).write_text(reference_source("04_classifier"))
    workspace.log.append("start", milestone=classifier.id, data={})
    trained = train_milestone(workspace=workspace, registry=registry, milestone=classifier,
                              budget_s=classifier.training.check_budget_s, device="cpu", seed=0)
    assert trained.checkpoint_dir is not None, trained.outcome.message
    learner = run_tests(workspace=workspace, registry=registry, milestone=classifier).result
    bundle = submit(workspace=workspace, registry=registry, output=tmp_path / "b.zip").zip_path

    result = verify_bundle(source=bundle, registry=registry, options=VerifyOptions(retrain=True))
    attention, check = result.milestones
    assert attention.verified == "pass"
    # the shipped checkpoint is evaluated deterministically: the same verdict as the learner's own test
    assert check.claimed == learner.status and check.verified == learner.status, check
    assert check.tests == f"{learner.passed}/{len(learner.tests)}"
    assert check.retrained in ("pass", "fail"), check.notes  # retraining ran within the budget and was graded
    assert any(note.startswith("retrained for") for note in check.notes)
    assert result.exit_code == (0 if check.agrees else 1)
