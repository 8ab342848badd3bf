"""The report for the terminal (rich): one screen, the verdict and the numbers
behind it. Details, plots and the per-attempt history are in the Markdown and
HTML versions."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from challenge.output import plain, untrusted as escape  # everything shown here may come from a stranger's bundle
from challenge.report import tables
from challenge.report.model import READER, Report
from challenge.report.verdict import BORDERLINE, FASTER, IN_PROGRESS, OVER, READY, ROUGHLY, RULES, SKILL_UP, WITHIN

STYLE = {READY: "green", BORDERLINE: "yellow", SKILL_UP: "red", IN_PROGRESS: "cyan"}
STATUS = {"passed": "green", "in progress": "yellow"}
TIMING_STYLE = {FASTER: "green", WITHIN: "green", ROUGHLY: "yellow", OVER: "red"}
MAX_MARKS = 8
WRITTEN_CHARS = 300  # of each written answer; the Markdown and HTML reports show them whole


def render_terminal(report: Report) -> RenderableType:
    parts: list[RenderableType] = [
        Text.from_markup(f"[bold]Self-calibration report[/bold] · {escape(report.handle)} · "
                         f"{tables.when(report.generated_at)}")]
    if not report.milestones:
        parts.append(Text("No milestone started yet" + ("." if report.audience == READER
                                                         else ": challenge start attention")))
    else:
        parts.append(_milestones(report))
        for g in report.groups:
            if len(g.milestones) > 1 or g.size > 1:
                parts.append(Text.from_markup(
                    f"[dim]Group[/dim] {escape(g.title)}: {tables.hours(g.total_s)}"
                    f"{'' if g.complete else ' so far'} of {tables.band(g.target)} "
                    f"({g.passed}/{g.size} passed): {g.timing}"))
        c = report.calibration
        parts.append(Text.from_markup(f"[bold]Pass predictions[/bold] {escape(tables.brier_text(report))} "
                                      f"{escape(c.confidence_words)}"))
        parts.append(Text.from_markup(f"[bold]Hours[/bold] {escape(c.hours_words)}"))
    parts.append(_verdict(report))
    if report.weakest_areas:
        parts.append(Text("Weakest areas: "
                          + ", ".join(f"{a.area} ({a.mean_comfort:.1f})" for a in report.weakest_areas)))
    if report.mistakes_made:
        made = "; ".join(plain(line, limit=160) for line in tables.mistake_lines(report))
        parts.append(Text(f"Mistakes made: {made}"))
    parts += _written_and_curves(report)
    for line in tables.similarity_lines(report):
        parts.append(Text.from_markup(f"[bold red]Like the reference:[/bold red] {escape(line)}"))
    parts.append(Text.from_markup(
        f"[dim]Rules: feel weighs more than time. Feel = mean comfort over the feel questions: comfortable >= "
        f"{RULES.comfortable_at:g}, hard < {RULES.hard_below:g}, else mixed. On time = up to "
        f"{RULES.roughly_on_time_factor:g}x the target's high end. Hard: skill up first. Comfortable + on time + "
        "no peek before passing: ready, else borderline. Mixed + on time + no peek: borderline, else skill up. "
        "Overall: in progress until every core milestone has passed. "
        "Full rules, details and plots: challenge report --format md|html --output FILE[/dim]"))
    for line in tables.log_lines(report)[1:]:
        parts.append(Text.from_markup(f"[yellow]Log:[/yellow] {escape(line)}"))
    return Group(*parts)


def _written_and_curves(report: Report) -> list[RenderableType]:
    """Written answers (cut, with the confidence) and judged curves (one line each): the learner's words in full
    are in the Markdown and HTML reports."""
    from challenge.report.curves import outside_count, sparkline

    parts: list[RenderableType] = []
    for m in report.milestones:
        for curve in m.curves:
            outside = outside_count(curve)
            parts.append(Text.from_markup(
                f"[bold]{escape(m.id)}[/bold] {escape(curve.title, limit=80)}: {sparkline(curve)} "
                + ("[green]every judged point in its band[/green]" if not outside else
                   f"[red]{outside} point{'s' if outside != 1 else ''} outside the band[/red]")))
        if m.written is None:
            continue
        answered = sum(1 for a in m.written.answers if a.answer)
        lines = [f"[bold]Written answers ({escape(m.id)})[/bold], {answered} of {len(m.written.answers)}, in the "
                 "learner's words, not graded (confidence 1-5):"]
        for a in m.written.answers:
            confidence = f"{a.confidence}/5" if a.confidence is not None else "?/5"
            answer = escape(a.answer, limit=WRITTEN_CHARS) if a.answer else "[dim]not answered[/dim]"
            lines.append(f"  · [bold]{escape(a.text)}[/bold] ({confidence}) {answer}")
        lines += [f"  [yellow]{escape(problem)}[/yellow]" for problem in m.written.problems]
        parts.append(Text.from_markup("\n".join(lines)))
    return parts


def _milestones(report: Report) -> Table:
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False)
    columns = ("milestone", "status", "hours / target", "tests", "help", "like ref.", "predicted", "feel", "verdict")
    for column in columns:
        table.add_column(column, no_wrap=column not in ("help", "predicted", "like ref.", "hours / target"))
    for m in report.milestones:
        color = TIMING_STYLE.get(m.timing, "white")
        spent = f"{m.time.total_h:.1f}" + ("+" if m.status != "passed" else "") + ("*" if m.time.adjusted_s else "")
        table.add_row(
            escape(m.id), f"[{STATUS.get(m.status, 'white')}]{m.status}[/]",
            f"[{color}]{spent}[/] / {tables.band(m.target)}", _attempts(m), _help(m), _similarity(m), _predicted(m),
            f"{m.reflection.feel_score:.1f}" if m.reflection.feel_score is not None else tables.MISSING,
            f"[{STYLE.get(m.verdict.level, 'white')}]{m.verdict.level}[/]")
    notes = ["hours: active + self-reported, [green]on time[/], [yellow]roughly[/], [red]over[/]; + so far",
             "* incl. self-reported", "tests: one mark per attempt",
             "like ref.: share of the code found in the reference (renaming and layout do not count)",
             f"feel: mean comfort 1-5 ({tables.MISSING}: not reflected)"]
    if report.not_started:
        notes.append("not started: " + ", ".join(report.not_started))
    table.caption = "; ".join(notes)
    table.caption_justify = "left"
    return table


def _similarity(m) -> str:
    cell = tables.similarity_cell(m)
    return f"[bold red]{cell}[/]" if m.similarity is not None and m.similarity.flagged else cell


def _attempts(m) -> str:
    marks = "".join("[green]✓[/]" if a.status == "pass" else "[red]✗[/]" for a in m.attempts[:MAX_MARKS])
    extra = len(m.attempts) - MAX_MARKS
    return (marks + (f" +{extra}" if extra > 0 else "")) or tables.MISSING


def _help(m) -> str:
    parts = [f"{m.hints_used} hint{'s' if m.hints_used != 1 else ''}"] if m.hints_used else []
    if m.peeks:
        parts.append(f"{m.peeks} peek{'s' if m.peeks != 1 else ''}")
    return ", ".join(parts) or tables.MISSING


def _predicted(m) -> str:
    if m.predicted_hours is None and m.predicted_pass is None:
        return tables.MISSING
    hours = f"{m.predicted_hours:g} h" if m.predicted_hours is not None else "? h"
    return f"{hours}, {tables.chance(m.predicted_pass)}"


def _verdict(report: Report) -> RenderableType:
    v = report.verdict
    style = STYLE.get(v.level, "white")
    lines = [f"[bold {style}]Verdict: {escape(v.label)}[/bold {style}]"]
    lines += [f"  · {escape(reason)}" for reason in v.reasons]
    return Text.from_markup("\n".join(lines))
