"""The log's head beside the log (truncation and deletion are detected and
explained), and hostile lines in a workspace's own log (nested 100,000 deep,
a milestone that is a list): reported and skipped, every command keeps working."""

from __future__ import annotations

import json
import os

import pytest

from challenge.record.eventlog import EventLog, head_path, read_log
from challenge.record.workspace import open_workspace

NESTED = b"[" * 100_000 + b"]" * 100_000


def _invoke(capsys, *args) -> tuple[int, str]:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    return done.value.code, " ".join((captured.out + captured.err).split())


def _history(workspace, clock) -> None:
    log = workspace.log
    log.append("start", milestone="attention", data={"predict_hours": 2.0, "predict_pass": 0.5})
    for index in range(3):
        clock.advance(600)
        log.append("hint", milestone="attention", data={"index": index})
    clock.advance(600)
    log.append("test", milestone="attention", data={"status": "fail", "passed": 1, "total": 3})


def test_the_head_follows_every_append(workspace, clock):
    _history(workspace, clock)
    head = json.loads(head_path(workspace.log.path).read_text())
    reading = workspace.log.read()
    assert (head["events"], head["head"]) == (reading.count, reading.head) == (6, reading.events[-1].hash)
    assert reading.losses == [] and reading.intact


def test_a_truncated_log_is_a_loss_status_warns_and_it_stays_on_record(workspace, clock, capsys):
    _history(workspace, clock)
    path = workspace.log.path
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:3]))  # the hints and the failed attempt are gone; the chain is still valid
    reading = workspace.log.read()
    assert reading.intact and reading.count == 3
    [loss] = reading.losses
    assert "holds 3 events but its head recorded 6" in loss and "the last 3 events were cut off" in loss
    code, output = _invoke(capsys, "status", "--workspace", str(workspace.root))
    assert code == 0 and "events were lost from your log" in output and "--accept-log-loss" in output
    # status sampled the learner's edits (an append): the loss went into the chain first, so it cannot be
    # overwritten by the head moving on
    workspace.log.append("resume", milestone="attention")
    reading = workspace.log.read()
    assert [e.type for e in reading.events if e.type == "log_loss"] == ["log_loss"]
    assert len(reading.losses) == 1 and "cut off" in reading.losses[0] and reading.intact


def test_a_deleted_log_is_a_loss_and_every_command_keeps_working(workspace, clock, capsys):
    _history(workspace, clock)
    os.remove(workspace.log.path)
    reading = workspace.log.read()
    assert reading.losses and "events.jsonl is missing" in reading.losses[0] and "6 events" in reading.losses[0]
    code, output = _invoke(capsys, "status", "--workspace", str(workspace.root))
    assert code == 0 and "events were lost from your log" in output and "Traceback" not in output
    for command in ("list", "report"):
        code, output = _invoke(capsys, command, "--workspace", str(workspace.root))
        assert code == 0 and "Traceback" not in output
    # deleting the head as well changes nothing: the workspace's log is required
    head_path(workspace.log.path).unlink(missing_ok=True)
    os.remove(workspace.log.path) if workspace.log.path.exists() else None
    assert any("missing" in loss for loss in open_workspace(workspace.root, clock=clock).log.read().losses)


def test_submit_refuses_a_log_that_lost_events_unless_accepted(workspace, clock, registry, tmp_path, capsys):
    from tests.challenge.bundle.helpers import fake_pass, reference_source

    fake_pass(workspace, registry, "attention", source=reference_source())
    workspace.log.append("hint", milestone="attention", data={"index": 0})
    path = workspace.log.path
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:-1]))  # the hint vanishes
    bundle = tmp_path / "ada.zip"
    code, output = _invoke(capsys, "submit", "--workspace", str(workspace.root), "--output", str(bundle))
    assert code == 1 and "Your event log lost events" in output and "--accept-log-loss" in output
    assert not bundle.exists()
    code, output = _invoke(capsys, "submit", "--workspace", str(workspace.root), "--output", str(bundle),
                           "--accept-log-loss")
    assert code == 0 and "recorded in the bundle" in output
    code, output = _invoke(capsys, "show", str(bundle))
    assert code == 0 and "lost events before submit" in output and "cut off" in output
    from challenge.bundle.verify import verify_bundle

    def refuse():
        return "not isolating in this test"

    with pytest.raises(Exception) as refused:  # the integrity checks pass; only the sandbox is refused here
        verify_bundle(source=bundle, registry=registry, isolation=refuse)
    assert type(refused.value).__name__ == "IsolationUnavailable"


def test_a_torn_last_line_is_reported_never_fatal(workspace, clock, capsys):
    _history(workspace, clock)
    with open(workspace.log.path, "ab") as handle:
        handle.write(b'{"data":{},"hash":"ab')  # a crash mid-write
    reading = workspace.log.read()
    assert [p.kind for p in reading.problems] == ["torn"] and not reading.losses
    code, output = _invoke(capsys, "status", "--workspace", str(workspace.root))
    assert code == 0 and "unreadable line" in output


@pytest.mark.parametrize("line", [NESTED, b'{"a":' * 40_000], ids=["array", "object"])
def test_a_line_nested_100000_deep_is_reported_and_skipped(workspace, clock, capsys, line):
    _history(workspace, clock)
    with open(workspace.log.path, "ab") as handle:
        handle.write(line + b"\n")
    reading = workspace.log.read()
    assert reading.count == 6 and any("nested deeper than" in p.detail for p in reading.problems)
    for command in ("status", "list", "report"):
        code, output = _invoke(capsys, command, "--workspace", str(workspace.root))
        assert code == 0 and "Traceback" not in output and "RecursionError" not in output
    workspace.log.append("pause", milestone="attention")  # appends go on after it
    assert workspace.log.read().events[-1].type == "pause"


def test_an_event_whose_milestone_is_a_list_is_reported_and_skipped(workspace, clock, capsys):
    from tests.challenge.bundle.helpers import forged_event

    _history(workspace, clock)
    path = workspace.log.path
    path.write_bytes(forged_event(path.read_bytes(), "test", ["attention"], {"status": "pass", "passed": 3}))
    reading = read_log(path)
    assert any(p.kind == "malformed" and "milestone" in p.detail for p in reading.problems)
    assert all(isinstance(e.milestone, (str, type(None))) for e in reading.events)
    for command in ("status", "list", "report"):
        code, output = _invoke(capsys, command, "--workspace", str(workspace.root))
        assert code == 0 and "Traceback" not in output and "TypeError" not in output


def test_mistyped_event_data_is_left_out_of_the_bookkeeping(tmp_path, clock):
    log = EventLog(tmp_path / "events.jsonl", clock=clock)
    log.append("start", milestone="attention", data={"predict_hours": [2]})
    log.append("hint", milestone="attention", data={"index": "first"})
    log.append("reflect", milestone="attention", data={"answers": {"obvious": {"rating": "4"}}})
    log.append("hint", milestone="attention", data={"index": 0})
    reading = log.read()
    assert [e.seq for e in reading.events] == [3] and reading.unusable == [0, 1, 2] and reading.count == 4
    assert [p.kind for p in reading.problems] == ["unusable"] * 3 and reading.intact
    assert "data.predict_hours" in reading.problems[0].detail


def test_a_nested_workspace_json_is_a_clean_error(workspace, capsys):
    (workspace.root / "workspace.json").write_bytes(NESTED)
    code, output = _invoke(capsys, "status", "--workspace", str(workspace.root))
    assert code == 1 and "workspace.json is unreadable (nested deeper than" in output and "Traceback" not in output
    (workspace.root / "workspace.json").write_text(json.dumps({"handle": ["ada"], "created_at": 1.0}))
    code, output = _invoke(capsys, "status", "--workspace", str(workspace.root))
    assert code == 1 and "handle: Input should be a valid string" in output
