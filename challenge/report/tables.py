"""The report's tables as plain text cells, shared by the Markdown, HTML and
terminal renderers so that all of them say the same thing the same way."""

from __future__ import annotations

import time
from dataclasses import dataclass

from challenge.record.durations import format_duration
from challenge.report.cells import MISSING, hours, percent
from challenge.report.model import LOCALISED, NAMED, READER, Band, MilestoneReport, Report
from challenge.similarity import describe as describe_similarity



@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[str]]


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts)) if ts is not None else MISSING


def band(target: Band) -> str:
    return f"{target.low:g} h" if target.low == target.high else f"{target.low:g}-{target.high:g} h"


def chance(p: float | None) -> str:
    return percent(p)


def time_cell(m: MilestoneReport) -> str:
    text = hours(m.time.total_s)
    if m.time.adjusted_s:
        text += f" (incl. {format_duration(m.time.adjusted_s)} self-reported)"
    return text + (" so far" if m.status != "passed" else "")


def attempts_cell(m: MilestoneReport) -> str:
    if not m.attempts:
        return "none yet"
    first = "passed first time" if m.first_pass else "first failed"
    return f"{len(m.attempts)} ({first})"


def help_cell(m: MilestoneReport) -> str:
    return f"{m.hints_used}/{m.hints_total} hints, {m.peeks} peek{'s' if m.peeks != 1 else ''}"


def feel_cell(m: MilestoneReport) -> str:
    r = m.reflection
    if r.feel_score is None:
        return "not reflected" if r.status == "missing" else "no feel ratings"
    return f"{r.feel_score:.1f}/5" + (" (partial)" if r.status == "partial" else "")


def builtins_cell(m: MilestoneReport) -> str:
    text = ", ".join(m.builtins_used) or "none"
    if m.forbidden_used:
        text += " (forbidden: " + ", ".join(m.forbidden_used) + ")"
    return text


def similarity_cell(m: MilestoneReport) -> str:
    return describe_similarity(m.similarity.score if m.similarity else None)


def milestones_table(report: Report) -> Table:
    rows = [[m.id + (" (bonus)" if m.bonus else ""), m.status, time_cell(m), band(m.target), m.timing,
             attempts_cell(m), help_cell(m), builtins_cell(m), similarity_cell(m), feel_cell(m), m.verdict.level]
            for m in report.milestones]
    return Table(["Milestone", "Status", "Time", "Target", "Timing", "Attempts", "Help", "Built-ins",
                  "Like reference", "Feel", "Verdict"], rows)


def similarity_lines(report: Report) -> list[str]:
    """One line per milestone whose file is as similar to the reference as a copy."""
    return [f"{m.id}: the file shares {m.similarity.score:.0%} of its code with the reference (flagged at "
            f"{m.similarity.threshold:.0%}; renaming and layout do not count)"
            for m in report.milestones if m.similarity is not None and m.similarity.flagged]


def groups_table(report: Report) -> Table:
    rows = [[g.title, f"{g.passed}/{g.size}", hours(g.total_s) + ("" if g.complete else " so far"), band(g.target),
             g.timing] for g in report.groups]
    return Table(["Target group", "Passed", "Time", "Target", "Timing"], rows)


def hours_table(report: Report) -> Table:
    rows = []
    for h in report.calibration.hours:
        ratio = f"{h.actual / h.predicted:.2f}x" if h.predicted > 0 else MISSING
        rows.append([h.milestone, f"{h.predicted:g} h", f"{h.actual:.1f} h" + ("" if h.final else " so far"),
                     ratio if h.final else MISSING])
    return Table(["Milestone", "Predicted", "Actual", "Actual / predicted"], rows)


def pass_table(report: Report) -> Table:
    rows = [[p.milestone, p.kind, chance(p.predicted), "passed" if p.passed else "failed"]
            for p in report.calibration.pass_predictions]
    return Table(["Milestone", "Prediction", "Stated chance", "Outcome"], rows)


def brier_text(report: Report) -> str:
    c = report.calibration
    if c.brier is None:
        return "Brier score: no pass predictions with an outcome yet."
    n = len(c.pass_predictions)
    return (f"Brier score: {c.brier:.3f} over {n} pass prediction{'s' if n != 1 else ''} "
            "(0 is perfect; always saying 50% scores 0.250).")


def ratings_table(report: Report) -> Table | None:
    """Questions down, milestones across; None when nothing was rated."""
    reflected = [m for m in report.milestones if m.reflection.status != "missing"]
    if not reflected:
        return None
    order: dict[str, tuple[str, bool]] = {}
    for m in reflected:
        for r in m.reflection.ratings:
            order.setdefault(r.question, (r.area, r.feel))
    rows = []
    for qid, (area, feel) in order.items():
        cells = []
        for m in reflected:
            rating = next((r for r in m.reflection.ratings if r.question == qid), None)
            cells.append(str(rating.rating) if rating and rating.rating is not None else MISSING)
        rows.append([area + ("" if feel else " (not counted)"), *cells])
    rows.append(["feel (mean comfort)", *[feel_cell(m) for m in reflected]])
    return Table(["Area", *[m.id for m in reflected]], rows)


def rating_notes(report: Report) -> list[str]:
    return [f"{m.id}, {r.area}: {r.note}" for m in report.milestones for r in m.reflection.ratings if r.note]


def attempts_table(m: MilestoneReport) -> Table:
    rows = []
    for a in m.attempts:
        failed = ", ".join(a.failed_tests) if a.failed_tests else ""
        if a.results_note:
            failed = (failed + "; " if failed else "") + a.results_note
        rows.append([str(a.number), when(a.ts), a.status, f"{a.passed}/{a.total}", chance(a.confidence),
                     failed or MISSING])
    return Table(["#", "When", "Result", "Tests passed", "Stated chance", "Failed tests"], rows)


def time_details(m: MilestoneReport) -> list[str]:
    t = m.time
    lines = [f"Active {format_duration(t.active_s)}, idle {format_duration(t.idle_s)} (clock "
             f"{format_duration(t.clock_s)}), paused {format_duration(t.paused_s)}."]
    for adj in t.adjustments:
        sign = "+" if adj.seconds >= 0 else ""
        lines.append(f"Self-reported adjustment {sign}{format_duration(adj.seconds)} on {when(adj.ts)}: "
                     f"\"{adj.note}\"")
    return lines


def reflection_line(m: MilestoneReport, *, third_person: bool = False) -> str:
    r = m.reflection
    if r.status == "missing":
        return "No reflection yet." if third_person else f"No reflection yet: `challenge reflect {m.id}`."
    text = f"Reflected on {when(r.answered_at)}"
    if r.status == "partial":
        text += " (some questions unanswered)"
    if r.replaced:
        text += f"; replaced {r.replaced} earlier answer set{'s' if r.replaced != 1 else ''} (kept in the log)"
    return text + "."


def log_lines(report: Report) -> list[str]:
    log = report.log
    lines = [f"{log.events} events; hash chain " + ("intact." if log.intact else "BROKEN: the log was edited.")]
    lines += [f"Integrity problem: {p}" for p in log.chain_problems]
    lines += [f"Events lost: {loss}. The time, attempts and help in them are missing." for loss in log.losses]
    lines += [f"Unusable line skipped: {p}" for p in log.malformed]
    if log.torn_lines:
        lines.append("Unreadable line(s) " + ", ".join(map(str, log.torn_lines))
                     + " skipped (a crash while writing); the rest of the log is used.")
    if log.unusable_events:
        lines.append("Events with unreadable data were left out (seq " + ", ".join(map(str, log.unusable_events))
                     + ").")
    if log.unknown_milestones:
        lines.append("Events for milestones this harness does not know were left out: "
                     + ", ".join(log.unknown_milestones) + ".")
    attempts = [a for m in report.milestones for a in m.attempts]
    if unisolated := sum(1 for a in attempts if a.isolated is False):
        lines.append(f"{unisolated} of {len(attempts)} attempts were graded without the full sandbox (bubblewrap "
                     "could not start where they ran, as in some hosted notebooks): weaker isolation, said in "
                     "each result. `challenge verify` re-grades the bundle in its own sandbox.")
    return lines


def mistake_lines(report: Report) -> list[str]:
    """'attention: no 1/sqrt(d_k) scaling of the scores (2 attempts)': named mistakes first, then faults only
    localised, then the test families that failed without a diagnosis; then how many were left out."""
    lines = [f"{t.milestone}: " + (t.label if t.kind == NAMED else f"{t.label} (localised; no known mistake named)"
                                   if t.kind == LOCALISED else f"failed \"{t.label}\", no diagnosis")
             + f" ({t.attempts} attempt{'s' if t.attempts != 1 else ''})" for t in report.mistakes_made]
    if report.mistakes_left_out:
        lines.append(f"and {report.mistakes_left_out} more, left out of this list")
    return lines


def ratings_owner(report: Report) -> str:
    """Whose ratings the weakest areas come from, in the report's voice."""
    return "the learner's" if report.audience == READER else "your"


def written_intro(written) -> str:
    """The line above a milestone's written answers (``model.WrittenAnswers``)."""
    answered = sum(1 for a in written.answers if a.answer)
    source = f" Questions: {written.source}." if written.source else ""
    return (f"{answered} of {len(written.answers)} answered, in the learner's own words, with their confidence "
            f"(1 = a guess, 5 = sure); not graded, read from their file without running it.{source}")


def confidence(level: int | None) -> str:
    return f"{level}/5" if level is not None else "not stated"


def curve_table(curve) -> Table:
    """One row per point of a judged curve (``model.Curve``): value, the band it must fall in, verdict."""
    from challenge.report.curves import band_of, verdict

    rows = []
    for index, (label, value) in enumerate(zip(curve.labels, curve.values)):
        judged = band_of(curve, index)
        allowed = f"{judged.low:.1%}-{judged.high:.1%}" if judged else "not judged"
        rows.append([label, f"{value:.1%}", allowed, {"ok": "ok", "outside": "OUTSIDE"}.get(verdict(curve, index),
                                                                                          MISSING)])
    return Table([curve.x_label or "point", curve.y_label or "value", "allowed", "verdict"], rows)
