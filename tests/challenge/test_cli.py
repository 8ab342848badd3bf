"""The CLI through typer's runner and through a real subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenge.cli import app
from challenge.record.eventlog import read_log

runner = CliRunner()


def invoke(*args, cwd=None, env=None):
    from challenge.cli import main

    old = Path.cwd()
    if cwd:
        os.chdir(cwd)
    try:
        with pytest.raises(SystemExit) as done:
            main(list(args))
    finally:
        os.chdir(old)
    return done.value.code


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("init", "list", "start", "status", "pause", "resume", "log-time", "hint", "peek"):
        assert command in result.output


def test_learner_walkthrough(tmp_path, capsys):
    assert invoke("init", "--handle", "ada", cwd=tmp_path) == 0
    ws = tmp_path / "submissions" / "ada"
    assert (ws / "workspace.json").is_file()
    assert invoke("start", "attention", "--predict-hours", "2", "--predict-pass", "0.5", cwd=tmp_path) == 0
    learner = ws / "01_attention" / "attention.py"
    assert learner.is_file() and (ws / "01_attention" / "README.md").is_file()
    learner.write_text("# my work\n")
    assert invoke("start", "attention", cwd=tmp_path) == 0
    assert learner.read_text() == "# my work\n", "start must never overwrite learner edits"
    assert invoke("hint", "attention", cwd=tmp_path) == 0
    assert invoke("pause", cwd=tmp_path) == 0
    assert invoke("pause", cwd=tmp_path) == 2  # misuse: already paused
    assert invoke("resume", cwd=tmp_path) == 0
    assert invoke("log-time", "attention", "--add", "1h30m", "--note", "read the paper", cwd=tmp_path) == 0
    assert invoke("status", cwd=tmp_path) == 0
    assert invoke("list", cwd=tmp_path) == 0
    events = read_log(ws / "events.jsonl").events
    types = [e.type for e in events]
    assert types[0] == "init" and "start" in types and "hint" in types and "time_adjust" in types
    start = next(e for e in events if e.type == "start")
    assert start.data["predict_hours"] == 2 and start.data["predict_pass"] == 0.5
    out = capsys.readouterr().out
    assert "Hint 1/5" in out and "self-reported" in out


def test_unknown_milestone_gets_did_you_mean(tmp_path, capsys):
    invoke("init", "--handle", "ada", cwd=tmp_path)
    assert invoke("start", "atention", cwd=tmp_path) == 2
    err = capsys.readouterr().err
    assert "No milestone called 'atention'" in err and "Did you mean 'attention'" in err


def test_peek_needs_a_failed_attempt_or_force(tmp_path, capsys):
    invoke("init", "--handle", "ada", cwd=tmp_path)
    invoke("start", "attention", cwd=tmp_path)
    assert invoke("peek", "attention", cwd=tmp_path) == 1
    assert "Try first" in capsys.readouterr().err
    assert invoke("peek", "attention", "--force", "--yes", cwd=tmp_path) == 0
    events = read_log(tmp_path / "submissions" / "ada" / "events.jsonl").events
    assert [e.data for e in events if e.type == "peek"] == [{"forced": True}]


def test_no_workspace_and_several_workspaces_are_explained(tmp_path, capsys):
    assert invoke("status", cwd=tmp_path) == 2
    assert "challenge init" in capsys.readouterr().err
    invoke("init", "--handle", "ada", cwd=tmp_path)
    invoke("init", "--handle", "bob", cwd=tmp_path)
    assert invoke("status", cwd=tmp_path) == 2
    assert "Several workspaces" in capsys.readouterr().err
    assert invoke("status", "--workspace", str(tmp_path / "submissions" / "bob"), cwd=tmp_path) == 0


def test_workspace_from_environment(tmp_path, monkeypatch, capsys):
    invoke("init", "--handle", "ada", "--workspace", str(tmp_path / "elsewhere"), cwd=tmp_path)
    monkeypatch.setenv("CHALLENGE_WORKSPACE", str(tmp_path / "elsewhere"))
    assert invoke("status", cwd=tmp_path) == 0
    assert "ada" in capsys.readouterr().out


def test_bad_duration_and_missing_note(tmp_path, capsys):
    invoke("init", "--handle", "ada", cwd=tmp_path)
    assert invoke("log-time", "attention", "--add", "soon", "--note", "x", cwd=tmp_path) == 2
    assert "1h30m" in capsys.readouterr().err
    assert invoke("log-time", "attention", "--add", "20m", cwd=tmp_path) == 2


def test_debug_switch_shows_the_traceback(tmp_path):
    env = dict(os.environ, CHALLENGE_DEBUG="1")
    env.pop("CHALLENGE_WORKSPACE", None)
    result = subprocess.run([sys.executable, "-m", "challenge", "status"], cwd=tmp_path, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_real_subprocess_walkthrough(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "challenge", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)

    assert run("init", "--handle", "ada").returncode == 0
    started = run("start", "attention", "--predict-hours", "1", "--predict-pass", "0.3")
    assert started.returncode == 0, started.stderr
    listed = run("list")
    assert listed.returncode == 0 and "attention" in listed.stdout and "in progress" in listed.stdout
    assert run("--version").stdout.startswith("challenge ")


def test_importing_the_cli_does_not_import_torch():
    code = "import sys, challenge.cli; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_status_shows_time_in_one_unit(tmp_path, capsys, monkeypatch):
    """The total is in the table's unit (2m next to 2m, never "0.0 h")."""
    import challenge.record.status as command  # where status reads the time
    from challenge.record.timekeeping import account as real_account

    invoke("init", "--handle", "ada", cwd=tmp_path)
    invoke("start", "attention", cwd=tmp_path)
    capsys.readouterr()

    def two_minutes_later(events, *, now, idle_threshold_s):
        return real_account(events, now=now + 120, idle_threshold_s=idle_threshold_s)

    monkeypatch.setattr(command, "account", two_minutes_later)
    assert invoke("status", cwd=tmp_path) == 0
    printed = capsys.readouterr().out
    assert "Total time: 2m" in printed and " h" not in printed.split("Total time:")[1].splitlines()[0]
    assert " 2m " in printed  # the attention row: active 2m
