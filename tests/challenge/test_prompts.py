"""Prompts that keep answers: the readers, then `challenge start` and `challenge
reflect` typed at through a pseudo-terminal (pexpect), as a learner would."""

from __future__ import annotations

import os
import sys

import pexpect
import pytest

from challenge.record.eventlog import read_log
from challenge.prompts import read_chance, read_hours, read_rating

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
PASS_QUESTION = "first `challenge test` passes"
HOURS_QUESTION = "hours do you expect"


@pytest.mark.parametrize("typed, value, echo", [
    ("70%", 0.7, None), ("70 %", 0.7, None), ("70", 0.7, "read 70 as 70%"), ("0.7", 0.7, None), (".7", 0.7, None),
    ("0", 0.0, None), ("100", 1.0, "read 100 as 100%"), ("1", 1.0, "read 1 as 100% (for 1%, type 1%)"),
    ("12.5%", 0.125, None),
])
def test_a_chance_in_any_usual_form(typed, value, echo):
    reading = read_chance(typed)
    assert reading.value == pytest.approx(value) and reading.echo == echo


@pytest.mark.parametrize("typed", ["abc", "", "150", "150%", "-0.2", "70%%", "0.7.1"])
def test_what_is_not_a_chance_is_refused_with_the_forms_it_takes(typed):
    with pytest.raises(ValueError, match="chance|between"):
        read_chance(typed)


def test_hours_and_ratings():
    assert read_hours("2.5").value == 2.5 and read_hours("2.5").echo is None
    assert read_hours("1h30m").value == 1.5 and read_hours("1h30m").echo == "read 1h30m as 1.5 h"
    for bad in ("abc", "0", "-1", "500"):
        with pytest.raises(ValueError):
            read_hours(bad)
    assert read_rating(" 4 ").value == 4
    for bad in ("0", "6", "4.5", "four"):
        with pytest.raises(ValueError):
            read_rating(bad)


@pytest.fixture
def learner(tmp_path):
    """Run the CLI in a pseudo-terminal, in a fresh folder with a workspace."""
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}
    env.update(COLUMNS="120", NO_COLOR="1", TERM="dumb")

    def spawn(*args: str) -> pexpect.spawn:
        child = pexpect.spawn(sys.executable, ["-m", "challenge", *args], cwd=str(tmp_path), env=env,
                              encoding="utf-8", timeout=60, dimensions=(50, 120))
        return child

    done = spawn("init", "--handle", "ada")
    done.expect(pexpect.EOF)
    spawn.log = tmp_path / "submissions" / "ada" / "events.jsonl"
    return spawn


def _finish(child: pexpect.spawn) -> str:
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return child.before


@pytest.mark.parametrize("typed, echo", [("70%", None), ("70", "(read 70 as 70%)"), ("0.7", None)])
def test_start_reads_the_pass_chance_as_typed(learner, typed, echo):
    child = learner("start", "attention")
    child.expect(HOURS_QUESTION)
    child.sendline("2")
    child.expect(PASS_QUESTION)
    child.sendline(typed)
    rest = _finish(child)
    assert "Started attention" in rest
    assert (echo in rest) if echo else ("(read " not in rest)
    start = next(e for e in read_log(learner.log).events if e.type == "start")
    assert start.data["predict_hours"] == 2 and start.data["predict_pass"] == pytest.approx(0.7)


def test_start_asks_again_on_abc_and_keeps_the_hours(learner):
    child = learner("start", "attention")
    child.expect(HOURS_QUESTION)
    child.sendline("2")
    child.expect(PASS_QUESTION)
    child.sendline("abc")
    child.expect(r"'abc' is not a chance: type it as 70%, 70 or 0.7.\s+Asking\s+again")
    child.expect(PASS_QUESTION)  # asked again; the command did not exit
    child.sendline("70")
    rest = _finish(child)
    assert "(read 70 as 70%)" in rest and "--predict-pass" not in rest  # never names a flag nobody typed
    start = next(e for e in read_log(learner.log).events if e.type == "start")
    assert start.data["predict_hours"] == 2 and start.data["predict_pass"] == pytest.approx(0.7)


def test_start_asks_again_on_hours_it_cannot_read(learner):
    child = learner("start", "attention")
    child.expect(HOURS_QUESTION)
    child.sendline("abc")
    child.expect(r"'abc' is not a number of hours: type it as 2, 2.5 or 1h30m.\s+Asking\s+again")
    child.expect(HOURS_QUESTION)
    child.sendline("1h30m")
    child.expect(r"\(read 1h30m as 1.5 h\)")
    child.expect(PASS_QUESTION)
    child.sendline("0.7")
    _finish(child)
    start = next(e for e in read_log(learner.log).events if e.type == "start")
    assert start.data["predict_hours"] == 1.5


def test_reflect_asks_again_and_keeps_answers_across_an_interruption(learner):
    child = learner("start", "attention", "--predict-hours", "2", "--predict-pass", "50%")
    _finish(child)
    child = learner("reflect", "attention")
    child.expect(r"Rating \(1-5\)")
    child.sendline("abc")
    child.expect(r"not a whole number from 1 to 5.\s+Asking\s+again")
    child.expect(r"Rating \(1-5\)")
    child.sendline("4")
    child.expect("Anything to add")
    child.sendline("the masks")
    child.expect(r"Rating \(1-5\)")
    child.sendintr()  # Ctrl-C on the second question
    child.expect("Your 1 answer so far is kept")
    child.expect(pexpect.EOF)
    assert not [e for e in read_log(learner.log).events if e.type == "reflect"]
    child = learner("reflect", "attention")
    child.expect(r"Going on from your earlier answers \(1 of (\d+) kept\)")
    questions = int(child.match.group(1))
    for _ in range(questions - 1):
        child.expect(r"Rating \(1-5\)")
        child.sendline("3")
        child.expect("Anything to add")
        child.sendline("")
    _finish(child)
    reflect = next(e for e in read_log(learner.log).events if e.type == "reflect")
    answers = reflect.data["answers"]
    assert len(answers) == questions and answers["obvious"] == {"rating": 4, "text": "the masks"}
