"""Plain functions behind `challenge test`: build the run request from milestone
data, run the hidden tests, save the results document and log the attempt."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from challenge.errors import UsageError
from challenge.progress import passed_ids
from challenge.storage import write_json_atomic
from challenge.workspace import Workspace
from milestones import Milestone, Registry


def builtins_policy(registry: Registry, milestone: Milestone, passed: set[str]) -> tuple[list[str], list[str]]:
    """(tracked, forbidden) built-ins for a run of ``milestone``.

    The challenge's soft rule: a built-in is forbidden while the milestone that
    replaces it has not passed (and always in that milestone itself); after
    that, later milestones may use it. Everything is tracked and reported.
    """
    tracked: set[str] = set()
    forbidden: set[str] = set(milestone.builtins.forbidden) | set(milestone.builtins.replaces)
    for other in registry.milestones:
        tracked.update(other.builtins.replaces, other.builtins.forbidden)
        if other.id not in passed:
            forbidden.update(other.builtins.replaces)
    return sorted(tracked), sorted(forbidden)


def run_request_for(*, registry: Registry, milestone: Milestone, learner_file: Path, passed: set[str],
                    seed: int | None = None, isolate: bool = True, options: dict | None = None,
                    device: str = "cpu"):
    from grader.runner import RunRequest  # torch is imported only when a test really runs

    tracked, forbidden = builtins_policy(registry, milestone, passed)
    return RunRequest(milestone_id=milestone.id, folder=milestone.folder, learner_file=learner_file,
                      tracked_builtins=tracked, forbidden_builtins=forbidden,
                      call_timeout_s=milestone.grading.call_timeout_s, run_timeout_s=milestone.grading.run_timeout_s,
                      memory_mb=milestone.grading.memory_mb, seed=seed, isolate=isolate, options=options or {},
                      device=device, forbidden_why=milestone.builtins.why or "")


@dataclass(frozen=True)
class TestOutcome:
    result: object  # grader.results.RunResult
    results_file: Path


def learner_file_of(workspace: Workspace, milestone: Milestone) -> Path:
    path = workspace.milestone_dir(milestone.folder) / milestone.learner_file
    if not path.is_file():
        raise UsageError(f"{path} does not exist.", f"Start the milestone first: challenge start {milestone.id}")
    return path


def record_confidence(*, workspace: Workspace, milestone: Milestone, confidence: float) -> None:
    if not 0 <= confidence <= 1:
        raise UsageError("--confidence is a probability between 0 and 1.", "Example: --confidence 0.7")
    workspace.log.append("prediction", milestone=milestone.id, data={"kind": "confidence", "value": confidence})


def run_tests(*, workspace: Workspace, registry: Registry, milestone: Milestone, seed: int | None = None,
              options: dict | None = None) -> TestOutcome:
    learner_file = learner_file_of(workspace, milestone)
    from grader.runner import run_milestone

    passed = passed_ids(workspace.log.read().events)
    if options is None:
        from challenge.training import cache_dir_of, grading_options

        options = grading_options(milestone_dir=workspace.milestone_dir(milestone.folder), milestone=milestone,
                                  cache_dir=cache_dir_of(workspace))
    request = run_request_for(registry=registry, milestone=milestone, learner_file=learner_file, passed=passed,
                              seed=seed, options=options)
    result = run_milestone(request)
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
    """A saved results document as a RunResult, checked first (``challenge.results_document``): OSError or
    UntrustedJSON when it is not one."""
    from challenge.results_document import read_results
    from grader.results import RunResult

    return RunResult.from_dict(read_results(Path(path)))
