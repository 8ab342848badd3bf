"""The live line of `challenge test`: which hidden test runs and how many are left, on a terminal only."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
from rich.console import Console

from challenge.feedback.progress_line import grading_progress, progress_text
from grader.progress import TestProgress
from milestones import load_registry

REFERENCE = load_registry().folder(load_registry().get("attention")) / "reference.py"


def test_the_text_names_the_test_and_counts_what_is_left():
    assert progress_text(TestProgress(done=2, total=21, current="a causal mask [float64]")) == \
        "test 3 of 21 (18 more): a causal mask [float64]"
    assert progress_text(TestProgress(done=21, total=21, current="")).startswith("test 21 of 21 (0 more)")


def test_a_terminal_gets_a_line_that_updates_and_goes_away():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    with grading_progress(console, label="attention") as on_progress:
        assert on_progress is not None
        on_progress(TestProgress(done=0, total=3, current="first [bias-float32]"))  # brackets are not markup
        console.file.flush()
        on_progress(TestProgress(done=1, total=3, current="second"))
    shown = screen.getvalue()
    assert "\x1b[" in shown  # drawn and redrawn in place
    assert "test 2 of 3 (1 more): second" in shown
    assert console.file is screen  # the sink is as it was


@pytest.mark.parametrize("console", [Console(file=io.StringIO()),  # a pipe or a file
                                     Console(file=io.StringIO(), force_terminal=True, _environ={"TERM": "dumb"})])
def test_no_line_where_it_cannot_be_redrawn(console):
    with grading_progress(console, label="attention") as on_progress:
        assert on_progress is None
    assert console.file.getvalue() == ""


def test_json_output_gets_no_line_even_on_a_terminal():
    console = Console(file=io.StringIO(), force_terminal=True)
    with grading_progress(console, label="attention", quiet=True) as on_progress:
        assert on_progress is None
    assert console.file.getvalue() == ""


@pytest.fixture
def attention_ws(tmp_path) -> tuple[Path, dict]:
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}
    run = lambda *a: subprocess.run([sys.executable, "-m", "challenge", *a], cwd=tmp_path, env=env,  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    assert run("init", "--handle", "ada").returncode == 0
    assert run("start", "attention", "--predict-hours", "1", "--predict-pass", "0.5").returncode == 0
    ws = tmp_path / "submissions" / "ada"
    (ws / "01_attention" / "attention.py").write_text(REFERENCE.read_text())
    return ws, env


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_on_a_terminal_the_line_shows_each_test_as_it_starts(attention_ws):
    ws, env = attention_ws
    env.update(COLUMNS="160", TERM="xterm")
    child = pexpect.spawn(sys.executable, ["-m", "challenge", "test", "attention", "--workspace", str(ws),
                                           "--after-pass", "keep"],
                          env=env, encoding="utf-8", timeout=240, dimensions=(40, 160))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = [tuple(int(n) for n in m) for m in re.findall(r"test (\d+) of (\d+) \((\d+) more\)", child.before)]
    assert len(set(shown)) >= 2  # it moved on while the tests ran, not only at the end
    assert shown == sorted(shown) and len({total for _, total, _ in shown}) == 1  # counting up, one total
    assert all(number + more == total for number, total, more in shown)
    assert "\r\x1b[2K" in child.before  # one line, redrawn in place


def test_piped_output_and_json_have_no_progress_noise(attention_ws):
    ws, env = attention_ws
    piped = subprocess.run([sys.executable, "-m", "challenge", "test", "attention", "--workspace", str(ws),
                            "--after-pass", "keep"], env=env, capture_output=True, text=True, timeout=240)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b" not in piped.stdout + piped.stderr
    assert not re.search(r"test \d+ of \d+", piped.stdout + piped.stderr)
    as_json = subprocess.run([sys.executable, "-m", "challenge", "test", "attention", "--workspace", str(ws), "--json",
                              "--after-pass", "keep"], env=env, capture_output=True, text=True, timeout=240)
    assert json.loads(as_json.stdout)["status"] == "pass"
