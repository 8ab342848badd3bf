"""The report's sections, in order, built once as data; the Markdown and HTML renderers only draw them.

A section is a list of blocks (a heading, a paragraph, a list, a table, a
quote, the place for the plots) holding plain text; each renderer escapes and
draws every block its own way. A new section is one function here and one row
in ``SECTIONS``: no renderer changes (a test adds one and checks that both
draw it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from challenge.report import tables
from challenge.report.model import READER, Report
from challenge.report.tables import Table


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    style: str = ""  # "verdict" (the verdict's label, drawn prominently), "muted"; "" plain


@dataclass(frozen=True)
class Bullets:
    items: list[str]
    numbered: bool = False


@dataclass(frozen=True)
class Quote:
    """Someone's own words, whole, line breaks kept (a written answer); None: not answered."""

    text: str | None


@dataclass(frozen=True)
class Figures:
    """Where the plots go (each renderer has its own: linked PNGs, embedded images)."""


Block = Heading | Paragraph | Bullets | Table | Quote | Figures


@dataclass(frozen=True)
class Section:
    key: str
    blocks: list[Block]


def _verdict(report: Report) -> list[Block]:
    blocks: list[Block] = [Heading("Verdict"), Paragraph(report.verdict.label, style="verdict"),
                           Bullets(list(report.verdict.reasons))]
    if report.weakest_areas:
        blocks += [Paragraph(f"Weakest areas from {tables.ratings_owner(report)} ratings (mean comfort out of 5):"),
                   Bullets([f"{a.area}: {a.mean_comfort:.1f} ({', '.join(a.milestones)})"
                            for a in report.weakest_areas])]
    if report.mistakes_made:
        blocks += [Paragraph("Mistakes made (each counted once per attempt that showed it):"),
                   Bullets(tables.mistake_lines(report))]
    return blocks


def _milestones(report: Report) -> list[Block]:
    if not report.milestones:
        return [Heading("Milestones"), Paragraph("No milestone started yet" + (
            "." if report.audience == READER else ": `challenge start attention`."))]
    blocks: list[Block] = [Heading("Milestones"), tables.milestones_table(report)]
    if report.not_started:
        blocks.append(Paragraph(f"Not started: {', '.join(report.not_started)}."))
    if report.groups:
        blocks += [Heading("Target groups", 3), tables.groups_table(report)]
    return blocks


def _calibration(report: Report) -> list[Block]:
    if not report.milestones:
        return []
    c = report.calibration
    blocks: list[Block] = [Heading("Predictions and outcomes"), Heading("Hours", 3)]
    if c.hours:
        blocks.append(tables.hours_table(report))
    blocks += [Paragraph(c.hours_words), Heading("Passing tests", 3)]
    if c.pass_predictions:
        blocks.append(tables.pass_table(report))
    return blocks + [Paragraph(tables.brier_text(report)), Paragraph(c.confidence_words)]


def _ratings(report: Report) -> list[Block]:
    if not report.milestones:
        return []
    blocks: list[Block] = [Heading("How it felt")]
    table = tables.ratings_table(report)
    if table is None:
        return blocks + [Paragraph("No reflection yet: `challenge reflect MILESTONE` asks the challenge's questions.")]
    blocks += [Paragraph("Ratings 1-5; 5 is the comfortable end."), table]
    missing = [m.id for m in report.milestones if m.reflection.status == "missing"]
    if missing:
        blocks.append(Paragraph(f"Not reflected yet: {', '.join(missing)}."))
    notes = tables.rating_notes(report)
    if notes:
        blocks += [Paragraph("Notes:"), Bullets(notes)]
    similar = tables.similarity_lines(report)
    if similar:
        blocks += [Paragraph("Similarity to the reference:"), Bullets(similar)]
    return blocks


def _written(report: Report) -> list[Block]:
    blocks: list[Block] = []
    for m in report.milestones:
        if m.written is None:
            continue
        blocks += [Heading(f"Written answers: {m.id}"), Paragraph(tables.written_intro(m.written))]
        for a in m.written.answers:
            blocks += [Heading(a.text, 3), Paragraph(f"Confidence: {tables.confidence(a.confidence)}."),
                       Quote(a.answer or None)]
        if m.written.problems:
            blocks.append(Bullets(list(m.written.problems)))
    return blocks


def _plots(report: Report) -> list[Block]:
    return [Figures()] if report.milestones else []


def _details(report: Report) -> list[Block]:
    if not report.milestones:
        return []
    blocks: list[Block] = [Heading("Milestone details")]
    for m in report.milestones:
        facts = [*tables.time_details(m),
                 f"Predicted {m.predicted_hours:g} h." if m.predicted_hours is not None else "No hours prediction.",
                 f"Stated chance the first test passes: {tables.chance(m.predicted_pass)}.",
                 f"Help: {tables.help_cell(m)}" + (f" ({m.peeks_before_pass} before passing)." if m.peeks else "."),
                 f"Built-ins used: {tables.builtins_cell(m)}.",
                 f"Similarity to the reference: {tables.similarity_cell(m)}.",
                 tables.reflection_line(m, third_person=report.audience == READER)]
        blocks += [Heading(f"{m.id}: {m.title}", 3),
                   Paragraph(f"Status: {m.status}. Time {tables.time_cell(m)} against {tables.band(m.target)}: "
                             f"{m.timing}. Verdict: {m.verdict.level} ({'; '.join(m.verdict.reasons)})."),
                   Bullets(facts),
                   tables.attempts_table(m) if m.attempts else Paragraph("No test attempt yet.")]
        for curve in m.curves:
            blocks += [Paragraph(f"{curve.title} (latest test):"), tables.curve_table(curve)]
    return blocks


def _rules(report: Report) -> list[Block]:
    return [Heading("How the verdict is reached"), Bullets(list(report.rules), numbered=True)]


def _log(report: Report) -> list[Block]:
    return [Heading("Event log"), Bullets(tables.log_lines(report))]


# The report's sections, in their order: (key, what it holds for a report). A new section is a row here.
SECTIONS: list[tuple[str, Callable[[Report], list[Block]]]] = [
    ("verdict", _verdict), ("milestones", _milestones), ("calibration", _calibration), ("ratings", _ratings),
    ("written", _written), ("plots", _plots), ("details", _details), ("rules", _rules), ("log", _log),
]


def report_sections(report: Report) -> list[Section]:
    """The report's sections in order, those with something to show."""
    built = [Section(key, build(report)) for key, build in SECTIONS]
    return [section for section in built if section.blocks]
