"""Plain functions behind `challenge test`: build the run request from milestone
data (``challenge.run_requests``), run the hidden tests, save the results
document and log the attempt."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from challenge.errors import UsageError
from challenge.record.progress import passed_ids, stub_sha256s
from challenge.run_requests import grade_request, grading_inputs, learner_file_of
from challenge.record.storage import write_json_atomic
from challenge.taskdata import cache_dir_of
from challenge.record.workspace import Workspace
from grader.results import RunResult
from milestones import Milestone, Registry


@dataclass(frozen=True)
class TestOutcome:
    """A graded attempt: what `challenge test` renders, and what ``challenge.api.test`` returns."""

    result: RunResult
    results_file: Path
    stub: bool = False  # the untouched stub was graded: not an attempt (``challenge.record.progress.is_stub_run``)

    @property
    def status(self) -> str:
        return self.result.status

    def to_dict(self) -> dict:
        return {"results_file": str(self.results_file), "result": self.result.to_dict()}

    @classmethod
    def from_dict(cls, raw: dict) -> "TestOutcome":
        from grader.results import RunResult

        return cls(RunResult.from_dict(raw["result"]), Path(raw["results_file"]))

    def _repr_html_(self) -> str:
        from challenge.notebook.html import html_of
        from challenge.feedback.render_results import render_run

        return html_of(lambda out: render_run(out, self.result, milestone_id=self.result.milestone,
                                              results_file=self.results_file,
                                              next_command=f"api.test({self.result.milestone!r})"))


# A sandbox kept warm by a long-lived process (a notebook's kernel) for all its `test` runs: each run forks a
# worker from it, as under `watch`, instead of starting Python and torch again. None: each run starts its own.
_kept_warm = None


def keep_sandbox_warm(grader) -> None:
    """Use ``grader`` (a ``grader.api.WarmGrader``, or None to stop) for every later ``sandbox_for_tests``."""
    global _kept_warm
    if _kept_warm is not None and _kept_warm is not grader:
        _kept_warm.close()
    _kept_warm = grader


@contextmanager
def sandbox_for_tests():
    """The sandbox a `test` grades in: the one kept warm (restarted if it died; closed after a run that did not
    finish, so that the next one starts clean), else a fresh one for this run."""
    from grader import api

    if _kept_warm is None:
        with api.WarmGrader() as warm:
            yield warm
        return
    try:
        yield _kept_warm.start()
    except BaseException:
        _kept_warm.close()
        raise


def record_confidence(*, workspace: Workspace, milestone: Milestone, confidence: float) -> None:
    if not 0 <= confidence <= 1:
        raise UsageError("--confidence is a probability between 0 and 1.", "Example: --confidence 0.7")
    workspace.log.append("prediction", milestone=milestone.id, data={"kind": "confidence", "value": confidence})


def run_tests(*, workspace: Workspace, registry: Registry, milestone: Milestone, seed: int | None = None,
              grader=None, on_progress: Callable | None = None) -> TestOutcome:
    """Grade the learner's file and log the attempt. ``grader``: a warm ``grader.api.WarmGrader`` (watch);
    without one the run starts its own sandbox. ``on_progress``: called with a ``grader.progress.TestProgress``
    as each hidden test starts. Ctrl-C logs an interrupted attempt and raises ``grader.api.Interrupted``."""
    from grader import api

    learner_file = learner_file_of(workspace, milestone)
    passed = passed_ids(workspace.log.read().events)
    task, trained = grading_inputs(milestone=milestone, milestone_dir=workspace.milestone_dir(milestone.folder),
                                   cache_dir=cache_dir_of(workspace))
    request = grade_request(registry=registry, milestone=milestone, learner_file=learner_file, passed=passed,
                            task=task, trained=trained, seed=seed)
    try:
        result = (grader.grade(request, on_progress=on_progress) if grader is not None
                  else api.grade(request, on_progress=on_progress))
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
    stub = result.status != "pass" and result.learner_file_sha256 == stub_sha256s().get(milestone.id)
    return TestOutcome(result, results_file, stub=stub)


def load_results(path: Path):
    """A saved results document as a RunResult, checked first (``challenge.feedback.results_document``): OSError or
    UntrustedJSON when it is not one."""
    from challenge.feedback.results_document import read_results
    from grader.results import RunResult

    return RunResult.from_dict(read_results(Path(path)))
