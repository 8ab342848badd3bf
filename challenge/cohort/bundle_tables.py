"""The cohort of bundles compared on their own reports (`challenge cohort compare`): its tables for the terminal
(rich) and Markdown, the cells built once (``*_rows``) and shared by both. Every cell may come from a learner's
bundle."""

from __future__ import annotations

import time

from rich import box
from rich.table import Table

from challenge.cohort.bundles import Cohort, MilestoneSummary, Spread
from challenge.output import untrusted as escape
from challenge.report.cells import MISSING, hours_spread, md_cell, md_inline, md_table
from challenge.report.cells import hours as _hours
from challenge.report.cells import number as _num
from challenge.report.cells import percent as _pct
from challenge.similarity import THRESHOLD


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


