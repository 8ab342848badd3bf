"""Plain functions behind `challenge test`: build the run request from milestone
data (``challenge.run_requests``), run the hidden tests, save the results
document and log the attempt."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from challenge.errors import UsageError
from challenge.record.progress import passed_ids
from challenge.run_requests import grade_request, grading_inputs, learner_file_of
from challenge.record.storage import write_json_atomic
from challenge.taskdata import cache_dir_of
from challenge.record.workspace import Workspace
from grader.results import RunResult
from milestones import Milestone, Registry


@dataclass(frozen=True)
class TestOutcome:
    result: RunResult
    results_file: Path


def record_confidence(*, workspace: Workspace, milestone: Milestone, confidence: float) -> None:
    if not 0 <= confidence <= 1:
        raise UsageError("--confidence is a probability between 0 and 1.", "Example: --confidence 0.7")
    workspace.log.append("prediction", milestone=milestone.id, data={"kind": "confidence", "value": confidence})


def run_tests(*, workspace: Workspace, registry: Registry, milestone: Milestone, seed: int | None = None,
              grader=None) -> TestOutcome:
    """Grade the learner's file and log the attempt. ``grader``: a warm ``grader.api.WarmGrader`` (watch);
    without one the run starts its own sandbox. Ctrl-C logs an interrupted attempt and raises
    ``grader.api.Interrupted``."""
    from grader import api

    learner_file = learner_file_of(workspace, milestone)
    passed = passed_ids(workspace.log.read().events)
    task, trained = grading_inputs(milestone=milestone, milestone_dir=workspace.milestone_dir(milestone.folder),
                                   cache_dir=cache_dir_of(workspace))
    request = grade_request(registry=registry, milestone=milestone, learner_file=learner_file, passed=passed,
                            task=task, trained=trained, seed=seed)
    try:
        result = grader.grade(request) if grader is not None else api.grade(request)
    except api.Interrupted as interrupted:
        workspace.log.append("test", milestone=milestone.id, data={
            "status": "interrupted", "passed": interrupted.result.passed, "total": len(interrupted.result.tests),
            "seed": interrupted.result.seed, "learner_file_sha256": interrupted.result.learner_file_sha256,
            "busy_s": interrupted.result.duration_s})
        raise
    results_dir = workspace.results_dir(milestone.folder)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(result.started_at))
    results_file = results_dir / f"{stamp}-{result.seed}.json"
    write_json_atomic(results_file, result.to_dict())
    workspace.log.append("test", milestone=milestone.id, data={
        "status": result.status, "passed": result.passed, "total": len(result.tests),
        "results_file": str(results_file.relative_to(workspace.root)), "seed": result.seed,
        "builtins_used": result.builtins_used, "forbidden_used": result.forbidden_used,
        "grader_version": result.grader_version, "hidden_tests_sha256": result.hidden_tests_sha256,
        "learner_file_sha256": result.learner_file_sha256, "duration_s": result.duration_s,
        "sandbox_isolated": bool(result.sandbox.get("isolated")), "busy_s": result.duration_s})
    return TestOutcome(result, results_file)


def load_results(path: Path):
    """A saved results document as a RunResult, checked first (``challenge.feedback.results_document``): OSError or
    UntrustedJSON when it is not one."""
    from challenge.feedback.results_document import read_results
    from grader.results import RunResult

    return RunResult.from_dict(read_results(Path(path)))
