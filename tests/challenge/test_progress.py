"""Progress from the event log: a test of the untouched stub is not an attempt (not the calibration's "first
test", not a failed try); any change to the file makes the next test one."""

from __future__ import annotations

import hashlib

from challenge.record.bookkeeping import start_milestone
from challenge.record.progress import derive_progress, is_stub_run, stub_sha256s
from challenge.report import build_report
from milestones import load_registry

REGISTRY = load_registry()
ATTENTION = REGISTRY.get("attention")


def _sha(text: bytes) -> str:
    return hashlib.sha256(text).hexdigest()


def _test(workspace, status: str, digest: str, passed: int = 0) -> None:
    workspace.log.append("test", milestone=ATTENTION.id, data={"status": status, "passed": passed, "total": 21,
                                                               "learner_file_sha256": digest})


def test_the_stub_hashes_are_the_files_start_copies(workspace):
    start_milestone(workspace=workspace, registry=REGISTRY, milestone=ATTENTION)
    copied = workspace.milestone_dir(ATTENTION.folder) / ATTENTION.learner_file
    assert stub_sha256s()[ATTENTION.id] == _sha(copied.read_bytes())
    assert set(stub_sha256s()) == {m.id for m in REGISTRY.milestones if (REGISTRY.folder(m) / "stub.py").is_file()}


def test_a_run_of_the_untouched_stub_is_not_an_attempt(workspace, clock):
    start_milestone(workspace=workspace, registry=REGISTRY, milestone=ATTENTION, predict_pass=0.9)
    stub = stub_sha256s()[ATTENTION.id]
    _test(workspace, "error", stub)  # "what do the tests say?" before writing anything
    clock.advance(600)
    workspace.log.append("prediction", milestone=ATTENTION.id, data={"kind": "confidence", "value": 0.8})
    _test(workspace, "pass", _sha(b"the learner's own code"), passed=21)
    events = workspace.log.read().events
    assert [is_stub_run(e) for e in events if e.type == "test"] == [True, False]
    item = derive_progress(events)[ATTENTION.id]
    assert (len(item.attempts), item.stub_runs, item.first_pass, item.failed_attempts) == (1, 1, True, 0)
    assert item.attempts[0].confidence == 0.8
    report = build_report(workspace_root=workspace.root, registry=REGISTRY, now=clock())
    (mine,) = [m for m in report.milestones if m.id == ATTENTION.id]
    assert mine.first_pass is True and [a.status for a in mine.attempts] == ["pass"]


def test_a_failing_run_of_changed_code_is_an_attempt(workspace):
    start_milestone(workspace=workspace, registry=REGISTRY, milestone=ATTENTION)
    _test(workspace, "fail", _sha(b"a first try"))
    _test(workspace, "pass", _sha(b"a second try"), passed=21)
    item = derive_progress(workspace.log.read().events)[ATTENTION.id]
    assert (len(item.attempts), item.stub_runs, item.first_pass, item.failed_attempts) == (2, 0, False, 1)


def test_the_stub_of_another_milestone_is_an_attempt_here(workspace):
    """The hash is compared with this milestone's own stub only."""
    start_milestone(workspace=workspace, registry=REGISTRY, milestone=ATTENTION)
    other = next(digest for mid, digest in stub_sha256s().items() if mid != ATTENTION.id)
    _test(workspace, "fail", other)
    assert len(derive_progress(workspace.log.read().events)[ATTENTION.id].attempts) == 1


def test_a_pass_claimed_for_the_stub_stays_an_attempt(workspace):
    """No honest run of the stub passes: a claimed one (a forgery) is kept, so that `verify` re-grades it."""
    start_milestone(workspace=workspace, registry=REGISTRY, milestone=ATTENTION)
    _test(workspace, "pass", stub_sha256s()[ATTENTION.id], passed=21)
    item = derive_progress(workspace.log.read().events)[ATTENTION.id]
    assert (len(item.attempts), item.stub_runs, item.passed) == (1, 0, True)


def test_challenge_test_on_the_untouched_stub_says_it_is_not_an_attempt(workspace, monkeypatch, capsys):
    """Through the CLI, the grader stood in for: the run is logged, says it was not counted, and is not one."""
    import time as time_module

    import pytest

    from challenge.cli import main
    from challenge.feedback.grading import run_tests
    from grader import api
    from grader.results import RunResult, TestResult

    start_milestone(workspace=workspace, registry=REGISTRY, milestone=ATTENTION)
    learner = workspace.milestone_dir(ATTENTION.folder) / ATTENTION.learner_file

    class FakeWarm:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def grade(self, request, **_):
            return RunResult(milestone=ATTENTION.id, status="fail", started_at=time_module.time(),
                             tests=[TestResult(name="t", status="fail", message="NotImplementedError")],
                             learner_file_sha256=_sha(learner.read_bytes()))

    monkeypatch.setattr(api, "WarmGrader", FakeWarm)
    with pytest.raises(SystemExit):
        main(["test", "attention", "--workspace", str(workspace.root)])
    assert "That was the untouched stub: a look at the tests, not counted as an attempt." in " ".join(
        capsys.readouterr().out.split())
    learner.write_text(learner.read_text() + "\n# started\n")
    assert not run_tests(workspace=workspace, registry=REGISTRY, milestone=ATTENTION, grader=FakeWarm()).stub
    item = derive_progress(workspace.log.read().events)[ATTENTION.id]
    assert (item.stub_runs, len(item.attempts)) == (1, 1)
