"""The report as GitHub-flavoured Markdown. Plots are linked, not embedded:
``images`` lists (title, relative path) of PNGs written next to the file."""

from __future__ import annotations

import html
from collections.abc import Sequence

from challenge.output import plain
from challenge.report import tables
from challenge.report.model import READER, Report


def render_markdown(report: Report, *, images: Sequence[tuple[str, str]] = ()) -> str:
    lines = [f"# Self-calibration report: {_inline(report.handle)}", "",
             f"Generated {tables.when(report.generated_at)} by `challenge report` "
             f"(schema {report.schema} v{report.version}).", ""]
    lines += _verdict(report)
    if not report.milestones:
        lines += ["## Milestones", "", "No milestone started yet" + (
            "." if report.audience == READER else ": `challenge start attention`."), ""]
    else:
        lines += ["## Milestones", "", *_table(tables.milestones_table(report)), ""]
        if report.not_started:
            lines += [f"Not started: {', '.join(report.not_started)}.", ""]
        if report.groups:
            lines += ["### Target groups", "", *_table(tables.groups_table(report)), ""]
        lines += _calibration(report)
        lines += _ratings(report)
        lines += _written(report)
        if images:
            lines += ["## Plots", ""]
            for title, path in images:
                lines += [f"![{title}]({path})", ""]
        lines += _details(report)
    lines += ["## How the verdict is reached", ""]
    lines += [f"{number}. {rule}" for number, rule in enumerate(report.rules, start=1)]
    lines += ["", "## Event log", ""]
    lines += [f"- {_inline(line)}" for line in tables.log_lines(report)]
    return "\n".join(lines).rstrip() + "\n"


def _verdict(report: Report) -> list[str]:
    lines = ["## Verdict", "", f"**{report.verdict.label}.**", ""]
    lines += [f"- {_inline(reason)}" for reason in report.verdict.reasons]
    if report.weakest_areas:
        lines += ["", f"Weakest areas from {tables.ratings_owner(report)} ratings (mean comfort out of 5):",
                  *[f"- {a.area}: {a.mean_comfort:.1f} ({', '.join(a.milestones)})" for a in report.weakest_areas]]
    if report.mistakes_made:
        lines += ["", "Mistakes made (each counted once per attempt that showed it):",
                  *[f"- {_inline(line)}" for line in tables.mistake_lines(report)]]
    return lines + [""]


def _calibration(report: Report) -> list[str]:
    c = report.calibration
    lines = ["## Predictions and outcomes", "", "### Hours", ""]
    if c.hours:
        lines += [*_table(tables.hours_table(report)), ""]
    lines += [c.hours_words, "", "### Passing tests", ""]
    if c.pass_predictions:
        lines += [*_table(tables.pass_table(report)), ""]
    lines += [tables.brier_text(report), c.confidence_words, ""]
    return lines


def _ratings(report: Report) -> list[str]:
    lines = ["## How it felt", ""]
    table = tables.ratings_table(report)
    if table is None:
        return lines + ["No reflection yet: `challenge reflect MILESTONE` asks the challenge's questions.", ""]
    lines += ["Ratings 1-5; 5 is the comfortable end.", "", *_table(table), ""]
    missing = [m.id for m in report.milestones if m.reflection.status == "missing"]
    if missing:
        lines += [f"Not reflected yet: {', '.join(missing)}.", ""]
    notes = tables.rating_notes(report)
    if notes:
        lines += ["Notes:", "", *[f"- {_inline(note)}" for note in notes], ""]
    similar = tables.similarity_lines(report)
    if similar:
        lines += ["Similarity to the reference:", "", *[f"- {_inline(line)}" for line in similar], ""]
    return lines


def _details(report: Report) -> list[str]:
    lines = ["## Milestone details", ""]
    for m in report.milestones:
        lines += [f"### {m.id}: {m.title}", "",
                  f"Status: {m.status}. Time {tables.time_cell(m)} against {tables.band(m.target)}: {m.timing}. "
                  f"Verdict: **{m.verdict.level}** ({'; '.join(m.verdict.reasons)}).", ""]
        lines += [f"- {_inline(line)}" for line in tables.time_details(m)]
        lines += [f"- Predicted {m.predicted_hours:g} h." if m.predicted_hours is not None
                  else "- No hours prediction.",
                  f"- Stated chance the first test passes: {tables.chance(m.predicted_pass)}.",
                  f"- Help: {tables.help_cell(m)}"
                  + (f" ({m.peeks_before_pass} before passing)." if m.peeks else "."),
                  f"- Built-ins used: {_inline(tables.builtins_cell(m))}.",
                  f"- Similarity to the reference: {tables.similarity_cell(m)}.",
                  f"- {tables.reflection_line(m, third_person=report.audience == READER)}", ""]
        if m.attempts:
            lines += [*_table(tables.attempts_table(m)), ""]
        else:
            lines += ["No test attempt yet.", ""]
        for curve in m.curves:
            lines += [f"{_inline(curve.title)} (latest test):", "", *_table(tables.curve_table(curve)), ""]
    return lines


def _written(report: Report) -> list[str]:
    """The learner's written answers, whole, each as a quote (their text cannot become markup)."""
    lines = []
    for m in report.milestones:
        if m.written is None:
            continue
        lines += [f"## Written answers: {m.id}", "", _inline(tables.written_intro(m.written)), ""]
        for a in m.written.answers:
            lines += [f"**{_inline(a.text)}** Confidence: {tables.confidence(a.confidence)}.", ""]
            lines += [f"> {_text(line)}" if line.strip() else ">" for line in (a.answer or "").splitlines()] \
                or ["*Not answered.*"]
            lines.append("")
        lines += [f"- {_inline(problem)}" for problem in m.written.problems]
        lines += [""] if m.written.problems else []
    return lines


def _table(table: tables.Table) -> list[str]:
    def row(cells: list[str]) -> str:
        return "| " + " | ".join(_cell(c) for c in cells) + " |"

    return [row(table.headers), "|" + "|".join("---" for _ in table.headers) + "|", *map(row, table.rows)]


def _cell(text: str) -> str:
    return _inline(text).replace("|", "\\|")


def _text(text: str) -> str:
    """A line of the learner's prose: ``_inline`` with Markdown's own punctuation escaped too (no links,
    emphasis, headings or tables made of it)."""
    return "".join("\\" + c if c in MARKDOWN_PUNCTUATION else c for c in _inline(text))


MARKDOWN_PUNCTUATION = set("\\`*_{}[]()#+-!|~>")


def _inline(text: str) -> str:
    """One line of text that cannot become markup: no control characters, raw HTML escaped
    (a learner's note or test name stays text on GitHub and in any Markdown viewer)."""
    return html.escape(" ".join(plain(text).split()), quote=False)
