"""The report as one self-contained HTML file: inline CSS, plots embedded as
``data:`` PNGs, no scripts, and a Content-Security-Policy that forbids every
network request, so the file reads the same offline and years later."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence

from challenge.report import tables
from challenge.report.model import READER, Report
from challenge.report.plots import Plot

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, sans-serif; max-width: 1100px; margin: 2em auto;
       padding: 0 1em; color: #212121; line-height: 1.45; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: .6em 0; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .3em .55em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
.verdict { font-size: 1.25em; font-weight: 600; padding: .5em .8em; border-radius: 6px; display: inline-block; }
.ready { background: #e8f5e9; color: #1b5e20; } .borderline { background: #fff8e1; color: #8d6e00; }
.skill-up-first { background: #ffebee; color: #b71c1c; } .no-verdict-yet { background: #eceff1; color: #37474f; }
.muted { color: #616161; font-size: .9em; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
blockquote.answer { white-space: pre-wrap; border-left: 3px solid #ddd; margin: .4em 0 1em; padding: .2em .9em; }
"""


def render_html(report: Report, *, plots: Sequence[Plot] = ()) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
             f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Self-calibration report: {e(report.handle)}</title>", f"<style>{STYLE}</style>", "</head>",
             "<body>", f"<h1>Self-calibration report: {e(report.handle)}</h1>",
             f'<p class="muted">Generated {e(tables.when(report.generated_at))} by <code>challenge report</code> '
             f"(schema {e(report.schema)} v{report.version}).</p>"]
    parts += _verdict(report)
    parts.append("<h2>Milestones</h2>")
    if not report.milestones:
        parts.append("<p>No milestone started yet.</p>" if report.audience == READER else
                     "<p>No milestone started yet: <code>challenge start attention</code>.</p>")
    else:
        parts.append(_table(tables.milestones_table(report)))
        if report.not_started:
            parts.append(f"<p>Not started: {e(', '.join(report.not_started))}.</p>")
        if report.groups:
            parts += ["<h3>Target groups</h3>", _table(tables.groups_table(report))]
        parts += _calibration(report)
        parts += _ratings(report)
        parts += _written(report)
    if plots:
        parts.append("<h2>Plots</h2>")
        for plot in plots:
            data = base64.b64encode(plot.png).decode("ascii")
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{e(plot.title)}">'
                         f"<figcaption>{e(plot.title)}</figcaption></figure>")
    if report.milestones:
        parts += _details(report)
    parts += ["<h2>How the verdict is reached</h2>", "<ol>", *[f"<li>{e(rule)}</li>" for rule in report.rules],
              "</ol>", "<h2>Event log</h2>", _list(tables.log_lines(report)), "</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _verdict(report: Report) -> list[str]:
    e = html.escape
    css = report.verdict.level.replace(" ", "-")
    parts = ["<h2>Verdict</h2>", f'<p class="verdict {css}">{e(report.verdict.label)}</p>',
             _list(report.verdict.reasons)]
    if report.weakest_areas:
        parts += [f"<p>Weakest areas from {tables.ratings_owner(report)} ratings (mean comfort out of 5):</p>",
                  _list([f"{a.area}: {a.mean_comfort:.1f} ({', '.join(a.milestones)})" for a in report.weakest_areas])]
    if report.mistakes_made:
        parts += ["<p>Mistakes made (each counted once per attempt that showed it):</p>",
                  _list(tables.mistake_lines(report))]
    return parts


def _calibration(report: Report) -> list[str]:
    c = report.calibration
    parts = ["<h2>Predictions and outcomes</h2>", "<h3>Hours</h3>"]
    if c.hours:
        parts.append(_table(tables.hours_table(report)))
    parts += [_p(c.hours_words), "<h3>Passing tests</h3>"]
    if c.pass_predictions:
        parts.append(_table(tables.pass_table(report)))
    return parts + [_p(tables.brier_text(report)), _p(c.confidence_words)]


def _ratings(report: Report) -> list[str]:
    parts = ["<h2>How it felt</h2>"]
    table = tables.ratings_table(report)
    if table is None:
        return parts + [_p("No reflection yet: `challenge reflect MILESTONE` asks the challenge's questions.")]
    parts += [_p("Ratings 1-5; 5 is the comfortable end."), _table(table)]
    missing = [m.id for m in report.milestones if m.reflection.status == "missing"]
    if missing:
        parts.append(_p(f"Not reflected yet: {', '.join(missing)}."))
    notes = tables.rating_notes(report)
    if notes:
        parts += ["<p>Notes:</p>", _list(notes)]
    similar = tables.similarity_lines(report)
    if similar:
        parts += ["<p>Similarity to the reference:</p>", _list(similar)]
    return parts


def _details(report: Report) -> list[str]:
    e = html.escape
    parts = ["<h2>Milestone details</h2>"]
    for m in report.milestones:
        facts = [*tables.time_details(m),
                 f"Predicted {m.predicted_hours:g} h." if m.predicted_hours is not None else "No hours prediction.",
                 f"Stated chance the first test passes: {tables.chance(m.predicted_pass)}.",
                 f"Help: {tables.help_cell(m)}" + (f" ({m.peeks_before_pass} before passing)." if m.peeks else "."),
                 f"Built-ins used: {tables.builtins_cell(m)}.",
                 f"Similarity to the reference: {tables.similarity_cell(m)}.",
                 tables.reflection_line(m, third_person=report.audience == READER)]
        parts += [f"<h3>{e(m.id)}: {e(m.title)}</h3>",
                  _p(f"Status: {m.status}. Time {tables.time_cell(m)} against {tables.band(m.target)}: {m.timing}. "
                     f"Verdict: {m.verdict.level} ({'; '.join(m.verdict.reasons)})."),
                  _list(facts),
                  _table(tables.attempts_table(m)) if m.attempts else _p("No test attempt yet.")]
        for curve in m.curves:
            parts += [_p(f"{curve.title} (latest test):"), _table(tables.curve_table(curve))]
    return parts


def _written(report: Report) -> list[str]:
    """The learner's written answers, whole; their line breaks kept, every character escaped."""
    e = html.escape
    parts = []
    for m in report.milestones:
        if m.written is None:
            continue
        parts += [f"<h2>Written answers: {e(m.id)}</h2>", _p(tables.written_intro(m.written))]
        for a in m.written.answers:
            parts.append(f"<h3>{e(a.text)}</h3>")
            parts.append(_p(f"Confidence: {tables.confidence(a.confidence)}."))
            parts.append(f'<blockquote class="answer">{e(a.answer)}</blockquote>' if a.answer
                         else '<p class="muted">Not answered.</p>')
        if m.written.problems:
            parts.append(_list(m.written.problems))
    return parts


def _table(table: tables.Table) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + "</ul>"


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"
