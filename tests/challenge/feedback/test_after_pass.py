"""After a pass: the next step, the clock paused or moved as the learner chooses
(asked on a terminal, --after-pass for scripts, recorded in the log), `watch`
moving on to the next milestone; and predictions never lost silently."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from challenge.feedback.after_pass import next_milestone
from challenge.record.bookkeeping import start_milestone
from challenge.cli import app
from challenge.errors import UsageError
from challenge.record.eventlog import read_log
from challenge.feedback.grading import TestOutcome as Outcome
from challenge.output import Output
from challenge.record.progress import derive_progress
from challenge.record.timekeeping import account
from challenge.record.workspace import init_workspace
from grader.results import RunResult
from grader.results import TestResult as Result
from milestones import load_registry

runner = CliRunner()
REGISTRY = load_registry()


@pytest.fixture
def ws(tmp_path):
    workspace = init_workspace(handle="ada", path=tmp_path / "ws")
    start_milestone(workspace=workspace, registry=REGISTRY, milestone=REGISTRY.get("attention"),
                    predict_hours=2, predict_pass=0.5)
    return workspace


@pytest.fixture
def grading(monkeypatch):
    """`challenge test` without the sandbox: each run passes (or follows ``statuses``) and is logged as usual."""
    statuses: list[str] = []

    def run_tests(*, workspace, registry, milestone, seed=None, grader=None, on_progress=None):
        status = statuses.pop(0) if statuses else "pass"
        if status == "interrupt":
            raise KeyboardInterrupt
        tests = [Result(name="everything", status=status, family="test_everything")]
        result = RunResult(milestone=milestone.id, status=status, tests=tests, sandbox={"isolated": True}, seed=1)
        workspace.log.append("test", milestone=milestone.id, data={"status": status, "passed": int(status == "pass"),
                                                                   "total": 1, "busy_s": 0})
        return Outcome(result, workspace.root / "results.json")

    monkeypatch.setattr("challenge.commands.grading.run_tests", run_tests)
    return statuses


@pytest.fixture
def terminal(monkeypatch):
    monkeypatch.setattr(Output, "interactive", property(lambda self: True))


def events(ws):
    return read_log(ws.root / "events.jsonl").events


def clock(ws):
    return account(events(ws), now=ws.clock())


def test_next_milestone_is_the_next_core_one_not_passed():
    attention, block, gpt = REGISTRY.get("attention"), REGISTRY.get("block"), REGISTRY.get("gpt")
    assert next_milestone(REGISTRY, {"attention"}, attention).id == "multihead"
    assert next_milestone(REGISTRY, {"attention", "multihead"}, attention).id == "block"
    assert next_milestone(REGISTRY, {"block"}, block).id == "classifier"
    core = {m.id for m in REGISTRY.core()}
    assert next_milestone(REGISTRY, core - {"multihead"}, gpt).id == "multihead"  # one left behind
    assert next_milestone(REGISTRY, core, gpt).bonus  # then the bonus milestones
    assert next_milestone(REGISTRY, {m.id for m in REGISTRY.milestones}, gpt) is None


def test_a_pass_prints_the_next_step_and_the_clock_keeps_running_without_a_choice(ws, grading):
    result = runner.invoke(app, ["test", "attention", "--workspace", str(ws.root)])
    assert result.exit_code == 0
    lines = [" ".join(line.split()) for line in result.output.splitlines() if line.strip()]
    text = " ".join(lines)
    assert ("Next: reflect on attention (challenge reflect attention), then challenge start multihead." in text)
    assert "The clock keeps running on attention: `challenge pause` or `challenge start multihead` " \
           "(scripts: --after-pass pause|next|keep)." in text
    assert clock(ws).running and clock(ws).current == "attention"


def test_after_pass_pause_stops_the_clock_and_records_it(ws, grading):
    result = runner.invoke(app, ["test", "attention", "--after-pass", "pause", "--workspace", str(ws.root)])
    assert result.exit_code == 0 and "Clock paused on attention" in result.output
    pause = [e for e in events(ws) if e.type == "pause"]
    assert [(e.milestone, e.data) for e in pause] == [("attention", {"after_pass": True})]
    assert not clock(ws).running


def test_after_pass_next_moves_the_clock_to_the_next_milestone(ws, grading):
    result = runner.invoke(app, ["test", "attention", "--after-pass", "next", "--workspace", str(ws.root)])
    assert result.exit_code == 0 and "Started multihead" in result.output
    start = [e for e in events(ws) if e.type == "start"][-1]
    assert start.milestone == "multihead" and start.data["after_pass_of"] == "attention"
    assert clock(ws).running and clock(ws).current == "multihead"
    # no terminal and no --predict-*: the missing predictions are said, with the command that records them
    assert "challenge predict multihead --hours 2 --pass 60%" in " ".join(result.output.split())


def test_a_terminal_is_asked_where_the_clock_goes(ws, grading, terminal):
    result = runner.invoke(app, ["test", "attention", "--workspace", str(ws.root)], input="x\nnext\n3\n40%\n")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "The clock is still running on attention: pause: pause the clock on attention; next: start multihead " \
           "now: the clock moves there; keep: keep it running on attention" in text
    assert "'x' is not one of pause, next, keep. Asking again." in text
    start = [e for e in events(ws) if e.type == "start"][-1]
    assert start.milestone == "multihead" and start.data == {
        "learner_file": "02_multihead/multihead.py", "predict_hours": 3.0, "predict_pass": 0.4,
        "after_pass_of": "attention"}


def test_only_the_first_pass_asks(ws, grading, terminal):
    assert runner.invoke(app, ["test", "attention", "--workspace", str(ws.root)], input="keep\n").exit_code == 0
    again = runner.invoke(app, ["test", "attention", "--workspace", str(ws.root)], input="")
    assert again.exit_code == 0 and "What now?" not in again.output and "Next: reflect on attention" in again.output


def test_a_failure_asks_nothing(ws, grading, terminal):
    grading.append("fail")
    result = runner.invoke(app, ["test", "attention", "--workspace", str(ws.root)], input="")
    assert result.exit_code == 1 and "Next:" not in result.output
    assert result.output.rstrip().splitlines()[-1].startswith("Fix first: everything.")


def test_watch_offers_to_move_on_and_watches_the_next_file(ws, grading, terminal, monkeypatch):
    class Warm:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr("grader.api.WarmGrader", Warm)
    grading.extend(["pass", "interrupt"])  # attention passes; then multihead's first run: Ctrl-C
    result = runner.invoke(app, ["watch", "attention", "--workspace", str(ws.root)], input="next\n2\n50%\n")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "next: start multihead now: the clock moves there and watch its file" in text
    assert "Watching" + str(ws.root / "02_multihead" / "multihead.py") in "".join(text.split())  # a long path wraps
    assert "Stopped watching." in text
    watched = [e.milestone for e in events(ws) if e.type == "watch"]
    assert watched == ["attention", "multihead"]


def test_start_without_a_terminal_says_predictions_are_missing_and_predict_records_them(ws, tmp_path):
    result = runner.invoke(app, ["start", "multihead", "--workspace", str(ws.root)])
    said = " ".join(result.output.split())
    assert result.exit_code == 0 and "No prediction of the hours and chance of passing was recorded for multihead" \
        in said and "Record them before your first test: challenge predict multihead --hours 2 --pass 60%" in said
    half = runner.invoke(app, ["start", "block", "--predict-hours", "2", "--workspace", str(ws.root)])
    assert "No prediction of the chance of passing" in " ".join(half.output.split())
    assert "challenge predict block --pass 60%" in " ".join(half.output.split())
    recorded = runner.invoke(app, ["predict", "multihead", "--hours", "1h30m", "--pass", "70",
                                   "--workspace", str(ws.root)])
    assert recorded.exit_code == 0 and "(--pass: read 70 as 70%)" in recorded.output
    item = derive_progress(events(ws))["multihead"]
    assert (item.predicted_hours, item.predicted_pass) == (1.5, 0.7)
    changed = runner.invoke(app, ["predict", "multihead", "--pass", "0.9", "--workspace", str(ws.root)])
    assert isinstance(changed.exception, UsageError)
    assert "a prediction stays as it was made" in changed.exception.message


def test_predict_after_the_first_test_is_too_late(ws, grading):
    grading.append("fail")
    runner.invoke(app, ["test", "attention", "--workspace", str(ws.root)])
    late = runner.invoke(app, ["predict", "attention", "--hours", "3", "--workspace", str(ws.root)])
    assert isinstance(late.exception, UsageError)  # exit 2 through `challenge`'s main
    assert "predictions count only before the first test" in late.exception.message
    # and a prediction event logged after an attempt (a hand-edited log) changes nothing
    ws.log.append("prediction", milestone="attention", data={"kind": "at_start", "predict_hours": 9.0})
    assert derive_progress(events(ws))["attention"].predicted_hours == 2
