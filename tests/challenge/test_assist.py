"""`challenge hint` aims at the latest failed attempt's diagnosis; `challenge
peek` says what it logs and asks first. Both logged, both said before shown."""

from __future__ import annotations

import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import pexpect
import pytest

from challenge.record.eventlog import read_log
from challenge.feedback.hints import Evidence, offer_hint
from challenge.record.workspace import init_workspace, open_workspace
from milestones import Hint, load_registry

FIXTURE = Path(__file__).parent / "fixtures" / "no_scale_attention.json"


def invoke(*args) -> int:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def failed_attempt(ws, results: Path | None = FIXTURE) -> None:
    """Log a failed `challenge test` of attention whose results document is ``results``."""
    name = None
    if results is not None:
        target = ws.results_dir("01_attention") / "20261128T214425-1.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(results, target)
        name = str(target.relative_to(ws.root))
    ws.log.append("test", milestone="attention", data={"status": "fail", "passed": 5, "total": 21,
                                                       "results_file": name, "busy_s": 1})


@pytest.fixture
def ws(tmp_path):
    from challenge.record.bookkeeping import start_milestone

    workspace = init_workspace(handle="ada", path=tmp_path / "ws")
    registry = load_registry()
    start_milestone(workspace=workspace, registry=registry, milestone=registry.get("attention"),
                    predict_hours=2, predict_pass=0.5)
    return workspace


def hints_logged(ws) -> list[dict]:
    return [e.data for e in read_log(ws.root / "events.jsonl").events if e.type == "hint"]


# -- hint ---------------------------------------------------------------------------------------------------------

def test_hint_offers_first_the_one_aimed_at_the_diagnosis(ws, capsys):
    failed_attempt(ws)
    assert invoke("hint", "attention", "--workspace", ws.root) == 0
    out = " ".join(capsys.readouterr().out.split())
    notice = out.index("It is logged as help used: the report will show 1/5 hints")
    assert "aimed at what your latest attempt shows: no 1/sqrt(d_k) scaling of the scores (16 tests)" in out
    shown = out.index("Hint 2/5 for attention: Scale the scores by 1/sqrt(d_k)")
    assert notice < shown  # said before it is shown
    assert hints_logged(ws) == [{"index": 1, "aimed_at": "no-scale"}]
    # the scaling hint is taken: the next one comes in order
    assert invoke("hint", "attention", "--workspace", ws.root) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the next one in order" in out and "Hint 1/5" in out and "report will show 2/5 hints" in out
    assert hints_logged(ws)[-1] == {"index": 0}


def test_hint_without_a_diagnosis_or_results_goes_in_order(ws, capsys):
    failed_attempt(ws, results=None)
    assert invoke("hint", "attention", "--workspace", ws.root) == 0
    assert "the next one in order" in capsys.readouterr().out and hints_logged(ws) == [{"index": 0}]


def test_every_hint_taken(ws, capsys):
    for index in range(5):
        ws.log.append("hint", milestone="attention", data={"index": index})
    assert invoke("hint", "attention", "--workspace", ws.root) == 0
    assert "All 5 hints for attention are unlocked" in capsys.readouterr().out and len(hints_logged(ws)) == 5


def _hints() -> list[Hint]:
    return [Hint.model_validate(h) for h in (
        "plain, untagged",
        {"text": "scale", "mistakes": ["no-scale"]},
        {"text": "masks", "mistakes": ["finite-fill"], "families": ["test_masked", "test_nan_rows"]},
    )]


def test_offer_order_diagnosis_then_families_then_order():
    hints = _hints()
    by_mistake = Evidence(mistakes=Counter({"finite-fill": 2, "no-scale": 9}), summaries={"no-scale": "no scale"})
    assert offer_hint(hints, set(), by_mistake).aimed_at == "no-scale"  # the mistake explaining most tests
    assert offer_hint(hints, {1}, by_mistake).aimed_at == "finite-fill"  # its hint taken: the next mistake's
    assert offer_hint(hints, {1, 2}, by_mistake).index == 0  # none left aimed at it: in order
    # undiagnosed: a hint's families must hold at least half of the undiagnosed failures
    most = Evidence(undiagnosed=Counter({"test_masked": 2, "test_nan_rows": 1, "test_other": 3}))
    assert offer_hint(hints, set(), most).index == 2 and offer_hint(hints, set(), most).aimed_at == "test_masked"
    few = Evidence(undiagnosed=Counter({"test_masked": 1, "test_other": 3}))
    assert offer_hint(hints, set(), few).index == 0 and offer_hint(hints, set(), few).aimed_at is None
    assert offer_hint(hints, {0, 1, 2}, most).index is None


def test_hints_load_as_plain_strings_or_tagged():
    plain, tagged = _hints()[0], _hints()[2]
    assert plain.text == "plain, untagged" and plain.mistakes == [] and str(plain) == "plain, untagged"
    assert tagged.families == ["test_masked", "test_nan_rows"]
    for bad in ({"text": "x", "mistakes": ["No Scale"]}, {"text": "x", "tags": []}, {"text": ""}):
        with pytest.raises(ValueError):
            Hint.model_validate(bad)


def test_the_core_milestones_hints_are_aimed():
    registry = load_registry()
    hidden = Path(__file__).resolve().parents[2] / "grader" / "hidden"
    for milestone_id in ("attention", "multihead", "block"):
        m = registry.get(milestone_id)
        assert all(h.mistakes for h in m.hints), milestone_id  # every hint names what it addresses
        source = "".join(p.read_text() for p in (hidden / m.folder).glob("test_*.py"))
        for family in {f for h in m.hints for f in h.families}:
            assert f"def {family}(" in source, f"{milestone_id}: no hidden test {family}"
    attention = registry.get("attention")
    assert "no-scale" in attention.hints[1].mistakes


# -- peek ---------------------------------------------------------------------------------------------------------

def test_peek_without_a_terminal_refuses_unless_yes(ws, capsys):
    failed_attempt(ws)
    assert invoke("peek", "attention", "--workspace", ws.root) == 2
    captured = capsys.readouterr()
    said = " ".join(captured.out.split())
    assert "This logs a peek at the reference for attention" in said and "at best 'borderline'" in said
    assert "not a terminal" in captured.err and "challenge peek attention --yes" in captured.err
    events = read_log(ws.root / "events.jsonl").events
    assert not [e for e in events if e.type == "peek"]
    assert invoke("peek", "attention", "--yes", "--workspace", ws.root) == 0
    assert "class SelfAttention" in capsys.readouterr().out
    assert [e.data for e in read_log(ws.root / "events.jsonl").events if e.type == "peek"] == [{"forced": False}]


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_peek_on_a_terminal_asks_and_no_means_nothing_logged(ws):
    failed_attempt(ws)
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}
    env.update(COLUMNS="200", NO_COLOR="1", TERM="dumb")

    def peek() -> pexpect.spawn:
        child = pexpect.spawn(sys.executable, ["-m", "challenge", "peek", "attention", "--workspace", str(ws.root)],
                              env=env, encoding="utf-8", timeout=60, dimensions=(50, 200))
        child.expect(r"Show the reference solution\? \[y/N\]")
        said = " ".join(child.before.split())  # what it said first, lines unwrapped
        assert ("This logs a peek at the reference for attention. attention is not passed yet, so in the report its "
                "verdict can be at best 'borderline'") in said
        return child

    child = peek()
    child.sendline("n")
    child.expect("Not shown, nothing logged.")
    child.expect(pexpect.EOF)
    assert not [e for e in open_workspace(ws.root).log.read().events if e.type == "peek"]
    child = peek()
    child.sendline("y")
    child.expect("class SelfAttention")
    child.expect("Logged as a peek at the reference on attention")
    child.expect(pexpect.EOF)
    assert len([e for e in open_workspace(ws.root).log.read().events if e.type == "peek"]) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_hint_on_a_terminal_says_it_is_logged_then_asks(ws):
    failed_attempt(ws)
    env = {k: v for k, v in os.environ.items() if k != "CHALLENGE_WORKSPACE"}
    env.update(COLUMNS="200", NO_COLOR="1", TERM="dumb")
    child = pexpect.spawn(sys.executable, ["-m", "challenge", "hint", "attention", "--workspace", str(ws.root)],
                          env=env, encoding="utf-8", timeout=60, dimensions=(50, 200))
    child.expect(r"Show it\? \[Y/n\]")
    assert "It is logged as help used" in " ".join(child.before.split())
    child.sendline("n")
    child.expect("Not shown, nothing logged.")
    child.expect(pexpect.EOF)
    assert hints_logged(ws) == []
