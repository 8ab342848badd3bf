"""Judged curves (accuracy per position) and written answers in every rendering: the test command's
terminal output, and the report as terminal, Markdown, HTML and JSON. Everything shown comes from the
learner's file or a results document: untrusted, escaped in each format."""

import json

import pytest
from rich.console import Console

from challenge.output import Output
from challenge.feedback.render_results import render_run
from challenge.report import build_report, render_text
from challenge.report.curves import curves_in, outside_count, parse_curve, sparkline, terminal_lines
from challenge.record.storage import write_json_atomic
from grader.judge.positions import band, curve_metric
from grader.results import RunResult
from grader.results import TestResult as Result
from milestones import load_registry

REGISTRY = load_registry()
HILTON = REGISTRY.get("hilton")
LABELS = ["x2", "x3", "SEP", "x3", "x2"]
VALUES = [0.06, 0.31, 1.0, 0.99, 0.5]


def judged_curve(title="Reversal: accuracy per position") -> dict:
    return curve_metric(title=title, labels=LABELS, values=VALUES, bands=[
        band(0, 2, 0.04, 0.08, "first half: chance band"), band(3, 5, 0.95, 1.0, "second half: >= 95%")])


def test_the_judges_curve_reads_back():
    curve = parse_curve("accuracy per position (judge)", json.loads(json.dumps(judged_curve())))
    assert curve.labels == LABELS and curve.values == VALUES and len(curve.bands) == 2
    assert outside_count(curve) == 2  # x3 in the first half (31%), x2 in the second (50%); SEP not judged
    assert sparkline(curve) == " ▂██▄"


@pytest.mark.parametrize("change", [
    {"kind": "other"}, {"values": [0.1] * 4}, {"values": [float("nan")] * 5}, {"labels": ["x" * 100] * 5},
    {"values": [0.5] * 300, "labels": ["a"] * 300}, {"title": "t" * 1000}, {"values": "no"}, {"bands": "no"},
    {"values": [True] * 5},
])
def test_malformed_curves_are_not_curves(change):
    assert parse_curve("m", {**judged_curve(), **change}) is None


def test_bands_outside_the_curve_are_dropped_and_curves_are_found_among_metrics():
    value = {**judged_curve(), "bands": [band(3, 9, 0, 1, "past the end"), band(2, 2, 0, 1, "empty")]}
    assert parse_curve("m", value).bands == []
    document = {"metrics": {"loss": 1.2, "curve": judged_curve(), "broken": {"kind": "curve"}}}
    assert [c.metric for c in curves_in(document)] == ["curve"]
    assert curves_in({"metrics": "nope"}) == [] and curves_in(None) == []


def render(renderable_or_lines) -> str:
    console = Console(width=120, record=True, color_system=None)
    for line in renderable_or_lines:
        console.print(line)
    return console.export_text()


def test_terminal_bars_show_value_band_and_escape_markup():
    curve = parse_curve("m", judged_curve(title="[bold green]VERIFIED[/] \x1b[2J"))
    text = render(terminal_lines(curve))
    assert "[bold green]VERIFIED[/]" in text and "\x1b" not in text
    assert "x3  31.0% ████████████" in text and "4.0%-8.0%" in text and "not judged" in text
    assert "x2..x3: first half: chance band" in text


def test_challenge_test_draws_the_curve_in_the_terminal(monkeypatch):
    out = Output()
    out.console = Console(width=120, record=True, color_system=None)
    result = RunResult(milestone="hilton", status="fail", tests=[Result("first half is at chance", "fail", "x")],
                       metrics={"accuracy per position (judge)": judged_curve(), "second-half rule": ">= 95%"},
                       sandbox={"isolated": True})
    render_run(out, result, milestone_id="hilton", next_command="challenge test hilton")
    text = out.console.export_text()
    assert "Reversal: accuracy per position" in text and "SEP 100.0%" in text and "{'kind'" not in text
    assert "second-half rule: >= 95%" in text


# -- the report ----------------------------------------------------------------------

HOSTILE = '<script>alert(1)</script> [click](javascript:alert(1)) **bold** \x1b[31mred\x1b[0m [red]markup[/red]'


@pytest.fixture
def report(tmp_path, clock):
    from challenge.record.workspace import init_workspace

    ws = init_workspace(handle="ada", path=tmp_path / "ws", clock=clock)
    folder = ws.milestone_dir(HILTON.folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / HILTON.learner_file).write_text(
        f'ANSWERS = {{"recurrence": "No recurrence:\\nattention reads the past at once.", "qkv": {HOSTILE!r}}}\n'
        'CONFIDENCE = {"recurrence": 4, "qkv": 2, "dense_layers": 9}\n')
    ws.log.append("start", milestone="hilton", data={"predict_hours": 3, "predict_pass": 0.5})
    path = ws.results_dir(HILTON.folder) / "r1.json"
    write_json_atomic(path, {"schema": "challenge-results", "version": 1, "milestone": "hilton", "status": "fail",
                             "tests": [{"name": "second half", "status": "fail"}],
                             "metrics": {"accuracy per position (judge)": judged_curve()}})
    ws.log.append("test", milestone="hilton", data={
        "status": "fail", "passed": 0, "total": 1, "results_file": str(path.relative_to(ws.root)),
        "builtins_used": [], "forbidden_used": [], "busy_s": 0})
    return build_report(workspace_root=ws.root, registry=REGISTRY, now=clock() + 60)


def test_the_report_model_holds_answers_confidence_and_curve(report):
    hilton = report.milestones[0]
    answers = {a.question: (a.answer, a.confidence) for a in hilton.written.answers}
    assert answers["recurrence"] == ("No recurrence:\nattention reads the past at once.", 4)
    assert answers["qkv"][1] == 2 and "\x1b" not in answers["qkv"][0]
    assert answers["dense_layers"] == (None, None) and answers["skip_connections"] == (None, None)
    assert hilton.written.problems == ["CONFIDENCE['dense_layers'] is not a whole number from 1 to 5"]
    assert [c.metric for c in hilton.curves] == ["accuracy per position (judge)"]


def test_json_report_carries_them(report):
    document = json.loads(render_text(report, "json"))
    hilton = document["milestones"][0]
    assert hilton["written"]["answers"][0]["confidence"] == 4
    assert hilton["curves"][0]["values"] == VALUES and hilton["curves"][0]["bands"][0]["low"] == 0.04


def test_markdown_quotes_the_answers_and_tabulates_the_curve(report):
    text = render_text(report, "md")
    assert "## Written answers: hilton" in text
    assert ("### How do recurrence and time differ between a transformer and an RNN such as an LSTM?\n\n"
            "Confidence: 4/5.") in text
    assert "> No recurrence:\n> attention reads the past at once." in text
    assert "Confidence: not stated." in text and "*Not answered.*" in text
    assert "<script>" not in text and "&lt;script&gt;" in text and "](javascript" not in text
    assert r"\[click\]\(javascript:alert\(1\)\)" in text and r"\*\*bold\*\*" in text
    assert "| x3 | 31.0% | 4.0%-8.0% | OUTSIDE |" in text and "| SEP | 100.0% | not judged | – |" in text


def test_html_escapes_the_answers_and_plots_the_curve(report):
    text = render_text(report, "html")
    assert '<blockquote class="answer">No recurrence:\nattention reads the past at once.</blockquote>' in text
    assert "<script>alert" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'alt="hilton: Reversal: accuracy per position"' in text and text.count("data:image/png;base64,") >= 2


def test_terminal_report_shows_answers_cut_and_the_curve_in_a_line(report):
    text = render_text(report, "terminal", width=200)
    assert "Written answers (hilton), 2 of 4" in text and "(4/5) No recurrence: attention reads" in text
    assert "[red]markup[/red]" in text and "\x1b" not in text
    assert "hilton Reversal: accuracy per position:" in text and "2 points outside the band" in text
