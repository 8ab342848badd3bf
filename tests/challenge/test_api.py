"""challenge.api: the objects it returns (to_dict round trips, HTML that escapes what the learner wrote),
what importing it costs, and one real graded attempt through it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from challenge import api
from challenge.record.bookkeeping import start_milestone
from challenge.feedback import grading
from challenge.record.status import StatusSnapshot
from challenge.training.run import TrainResult
from challenge.record.workspace import init_workspace
from grader import results
from grader.results import Diagnosis, RunResult, TrainOutcome

HOSTILE = "<script>alert('x')</script> [bold green]VERIFIED[/] \x1b[2J"


def hostile_result() -> RunResult:
    """A run whose every learner-controlled string tries to be HTML, rich markup or a terminal command."""
    return RunResult(milestone="attention", status="fail", seed=7, duration_s=1.5, tests=[
        results.TestResult(name="matches <b>torch</b>", status="pass"),
        results.TestResult(name=f"fails {HOSTILE}", status="fail", message=f"values differ {HOSTILE}", output=HOSTILE,
                   hint="look at <i>the mask</i>", family="fails",
                   diagnosis=Diagnosis(mistake="m", summary=f"summary {HOSTILE}", evidence=f"evidence {HOSTILE}")),
    ], sandbox={"isolated": False, "network": "host <net>", "filesystem": "landlock"})


def assert_escaped(html: str) -> None:
    assert "<script>" not in html and "<b>torch" not in html and "<i>the mask" not in html
    assert "&lt;script&gt;" in html
    assert "VERIFIED[/]" in html  # the markup is shown as text, not applied
    assert "\x1b" not in html


def test_importing_the_api_imports_neither_torch_nor_ipython():
    code = "import sys, challenge, challenge.api; print('torch' in sys.modules, 'IPython' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_test_outcome_round_trips_and_its_html_escapes_learner_text(tmp_path):
    outcome = grading.TestOutcome(hostile_result(), tmp_path / "results.json")
    document = outcome.to_dict()
    assert json.loads(json.dumps(document)) == document
    again = grading.TestOutcome.from_dict(document)
    assert again == outcome and again.status == "fail"
    html = outcome._repr_html_()
    assert_escaped(html)
    assert "summary" in html and "Fix first:" in html
    assert "not fully isolated" in html  # the sandbox it ran in, as the CLI says it


def test_a_train_result_round_trips_without_its_weights(tmp_path):
    outcome = TrainOutcome(status="trained", history=[{"step": 1, "loss": 2.5}], stopped_by="budget", cpu_s=3.0,
                           threads=2, output=HOSTILE, sandbox={"isolated": True}, state={"w": object()})
    result = TrainResult(outcome, tmp_path / "checkpoints" / "x", "gpt")
    document = result.to_dict()
    assert document["outcome"]["state"] == {} and json.loads(json.dumps(document)) == document
    again = TrainResult.from_dict(document)
    assert again.outcome.history == outcome.history and again.checkpoint_dir == result.checkpoint_dir
    assert again.milestone == "gpt" and again.status == "trained"
    html = result._repr_html_()
    assert_escaped(html)
    assert "Trained gpt" in html and "challenge test gpt" in html


def test_status_and_report_are_the_clis_objects(tmp_path, registry):
    workspace = init_workspace(handle="ada", path=tmp_path / "<b>ws")
    start_milestone(workspace=workspace, registry=registry, milestone=registry.get("attention"), predict_hours=2)
    status = api.status(workspace=workspace.root)
    assert isinstance(status, StatusSnapshot) and status.current == "attention" and status.running
    assert [m.id for m in status.milestones] == ["attention"]
    assert StatusSnapshot.from_dict(json.loads(json.dumps(status.to_dict()))) == status
    html = status._repr_html_()
    assert "&lt;b&gt;ws" in html and "<b>ws" not in html and "attention" in html

    report = api.report(workspace=str(workspace.root))
    from challenge.report import render_text

    assert report.to_dict() == json.loads(render_text(report, "json"))  # `challenge report --format json`
    assert "ada" in report._repr_html_()


def test_errors_are_the_clis(tmp_path):
    from challenge.errors import ChallengeError

    with pytest.raises(ChallengeError, match="not a challenge workspace"):
        api.status(workspace=tmp_path)


def test_api_test_grades_and_logs_an_attempt_as_the_cli_does(tmp_path, registry):
    workspace = init_workspace(handle="ada", path=tmp_path / "ws")
    m = registry.get("attention")
    started = start_milestone(workspace=workspace, registry=registry, milestone=m)
    started.learner_file.write_text((registry.folder(m) / "reference.py").read_text())
    outcome = api.test("attention", workspace=workspace.root, seed=3, confidence=0.8)
    assert isinstance(outcome, grading.TestOutcome) and outcome.status == "pass"
    assert outcome.results_file.is_file()
    assert RunResult.from_dict(json.loads(outcome.results_file.read_text())) == outcome.result
    logged = [json.loads(line) for line in (workspace.root / "events.jsonl").read_text().splitlines()]
    assert [e["type"] for e in logged][-3:] == ["activity", "prediction", "test"]  # as `challenge test --confidence`
    assert logged[-1]["data"]["status"] == "pass" and logged[-1]["data"]["seed"] == 3
    assert grading.TestOutcome.from_dict(outcome.to_dict()) == outcome
