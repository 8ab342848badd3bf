"""Rendering verification and cohort results (terminal with rich, Markdown).
The cells are built once (``*_rows``) and shared by both outputs."""

from __future__ import annotations

import time

from rich import box
from rich.table import Table

from challenge.cohort.bundles import Cohort, MilestoneSummary, Spread
from challenge.bundle.verify import WHAT_IT_PROVES, MilestoneVerification, Verification
from challenge.record.durations import format_duration
from challenge.report.cells import MISSING, hours_spread, md_cell, md_inline, md_table
from challenge.report.cells import hours as _hours
from challenge.report.cells import number as _num
from challenge.report.cells import percent as _pct
from challenge.output import untrusted as escape  # every cell may come from the learner's bundle
from challenge.similarity import THRESHOLD
from challenge.similarity import describe as describe_similarity

MARK = {"pass": "[green]pass[/green]", "fail": "[red]fail[/red]", "error": "[magenta]error[/magenta]"}


def _help(m: MilestoneVerification) -> str:
    if not (m.hints or m.peeks):
        return "none"
    return f"{m.hints} hint{'s' * (m.hints != 1)}, {m.peeks} peek{'s' * (m.peeks != 1)}"


def verification_rows(verification: Verification, *, with_retrain: bool) -> tuple[list[str], list[list[str]]]:
    headers = ["milestone", "claimed", "verified", "time", "tries", "help", "built-ins", "like ref."]
    if with_retrain:
        headers.insert(3, "retrained")
    rows = []
    for m in verification.milestones:
        verified = f"{m.verified} {m.tests}" if m.tests else m.verified
        row = [m.id, m.claimed, verified, format_duration(m.active_s), str(m.attempts), _help(m),
               ", ".join(m.builtins_used) or "none", describe_similarity(m.similarity)]
        if with_retrain:
            row.insert(3, m.retrained or MISSING)
        rows.append(row)
    return headers, rows


def verification_table(verification: Verification, *, with_retrain: bool) -> Table:
    headers, rows = verification_rows(verification, with_retrain=with_retrain)
    table = Table(title=f"Bundle of {escape(verification.handle or '?')}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=(0, 1), collapse_padding=True)
    for header in headers:  # short headers, whole; longer cells wrap, so the table fits 80 columns
        table.add_column(header, min_width=len(header), overflow="fold")
    for m, row in zip(verification.milestones, rows):
        cells = [escape(c) for c in row]
        cells[2] = cells[2].replace(m.verified, MARK.get(m.verified, m.verified), 1)
        if not m.agrees:
            cells[0] = f"[bold red]{cells[0]}[/bold red]"
        if m.similarity_flagged:
            cells[-1] = f"[bold red]{cells[-1]}[/bold red]"
        table.add_row(*cells)
    return table


def verification_lines(verification: Verification) -> list[str]:
    """Problems, notes, the sandbox and the verdict, as rich markup lines."""
    lines = [f"[bold red]✗ {escape(p.describe())}[/bold red]" for p in verification.problems]
    for m in verification.milestones:
        lines += [f"[dim]{escape(m.id)}:[/dim] {escape(note)}" for note in m.notes]
    sandbox = next((m.sandbox for m in verification.milestones if m.sandbox), None)
    if sandbox:
        lines.append("[dim]sandbox:[/dim] " + escape("; ".join(
            f"{key} {sandbox[key]}" for key in ("network", "filesystem", "tcp", "processes", "environment")
            if key in sandbox)))
    code = verification.exit_code
    if code == 2:
        lines.append("[bold red]INVALID: the bundle failed an integrity check; none of its code was run.[/bold red]")
    elif code == 1:
        wrong = ", ".join(m.id for m in verification.milestones if not m.agrees)
        lines.append(f"[bold red]NOT VERIFIED: claimed passes that did not pass here: {escape(wrong)}.[/bold red]")
    else:
        claimed = [m.id for m in verification.milestones if m.claimed == "pass"]
        lines.append(f"[bold green]VERIFIED: every claimed pass ({escape(', '.join(claimed) or 'none')}) passed "
                     f"again here, with grader {escape(verification.grader_version)}.[/bold green]")
    if code != 2:
        lines.append(f"[dim]{escape(WHAT_IT_PROVES)}[/dim]")
    return lines


# -- cohort ----------------------------------------------------------------------

def _spread(s: Spread | None) -> str:
    return hours_spread(s.median, s.q1, s.q3) if s else MISSING


def cohort_milestone_rows(cohort: Cohort) -> tuple[list[str], list[list[str]]]:
    headers = ["milestone", "passed", "active time of passers: median (quartiles)", "first-try pass", "used help",
               "help each", "stated chance", "Brier", "hours vs predicted"]
    rows = [[s.id, f"{s.passed}/{s.started} ({_pct(s.pass_rate)})", _spread(s.time), _pct(s.first_pass_rate),
             _pct(s.help_rate), _num(s.mean_help, ".1f"), _pct(s.predicted_pass), _num(s.brier),
             _num(s.hours_ratio, ".1f") + ("x" if s.hours_ratio is not None else "")] for s in cohort.milestones]
    return headers, rows


def _placement(cohort: Cohort, summary: MilestoneSummary, learner) -> str:
    mine = learner.milestones.get(summary.id)
    if mine is None:
        return MISSING
    help_text = f", {mine.help} help" if mine.help else ""
    if mine.status != "passed":
        return f"in progress {_hours(mine.active_s)}{help_text}"
    first = "first try" if mine.first_pass else f"{mine.attempts} tries"
    return f"{_hours(mine.active_s)} p{cohort.percentile(learner, summary.id):.0f}, {first}{help_text}"


def cohort_learner_rows(cohort: Cohort) -> tuple[list[str], list[list[str]]]:
    headers = ["learner", *[s.id for s in cohort.milestones], "Brier"]
    rows = [[ln.label, *[_placement(cohort, s, ln) for s in cohort.milestones], _num(ln.brier)]
            for ln in cohort.learners]
    return headers, rows


def cohort_similarity_rows(cohort: Cohort) -> tuple[list[str], list[list[str]]]:
    headers = ["milestone", "file", "like", "shared code"]
    rows = [[pair.milestone, pair.first, pair.second, f"{pair.score:.0%}"] for pair in cohort.similar]
    return headers, rows


def cohort_tables(cohort: Cohort) -> list[Table]:
    tables = []
    sections = [(f"Cohort of {len(cohort.learners)}: per milestone", cohort_milestone_rows(cohort)),
                ("Where each learner falls (pNN: percentile of active time among those who passed; lower is faster)",
                 cohort_learner_rows(cohort))]
    if cohort.similar:
        sections.append((f"Similar code: pairs sharing at least {THRESHOLD:.0%} of their code (renaming and layout do "
                         "not count)", cohort_similarity_rows(cohort)))
    for title, (headers, rows) in sections:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, padding=(0, 1), collapse_padding=True)
        for index, header in enumerate(headers):
            table.add_column(header, no_wrap=index == 0, overflow="fold")
        for row in rows:
            table.add_row(*[escape(c) for c in row])
        tables.append(table)
    return tables


def cohort_markdown(cohort: Cohort, *, now: float) -> str:
    lines = [f"# Cohort report ({len(cohort.learners)} learners)", "",
             f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(now))}. Active time excludes pauses, idle "
             "gaps and self-reported time; calibration compares the chance each learner stated of passing at the "
             "first test with what happened (Brier: 0 perfect, 0.25 a coin's worth).", "", "## Per milestone", ""]
    lines += md_table(*cohort_milestone_rows(cohort))
    lines += ["", "## Where each learner falls", "",
              "pNN: percentile of active time among those who passed the milestone (lower is faster).", ""]
    lines += md_table(*cohort_learner_rows(cohort))
    if cohort.similar:
        lines += ["", "## Similar code", "", f"Pairs of files that share at least {THRESHOLD:.0%} of their code "
                  "(renaming and layout do not count; the stub is left out), and files that share as much with the "
                  "reference.", ""]
        lines += md_table(*cohort_similarity_rows(cohort))
    if cohort.excluded:
        lines += ["", "## Left out", ""] + [f"- {md_cell(source)}: {md_inline(reason)}"
                                            for source, reason in cohort.excluded]
    return "\n".join(lines) + "\n"


