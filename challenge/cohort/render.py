"""The merged cohort report as sections of rows, drawn as terminal tables,
Markdown or HTML; and as one JSON document.

The sections are built once (``sections``) and shared by every output; the
ones `challenge cohort compare` also shows come from
``challenge.cohort.bundle_tables``. Every cell may come from a learner's bundle: the
terminal escapes rich markup, Markdown and HTML escape HTML, and control
characters are removed everywhere (``challenge.output.plain``).

The JSON holds no time of day and nothing of the machine that merged it, so
the same documents merge into the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from challenge.cohort.bundle_tables import cohort_learner_rows, cohort_milestone_rows, cohort_similarity_rows
from challenge.cohort.merge import TIMING_CLASSES, BundleRow, MergedCohort
from challenge.report.cells import MISSING, hours_spread, html_text, md_inline, md_table
from challenge.report.cells import percent as _pct
from challenge.similarity import THRESHOLD

SCHEMA = "challenge-cohort-report"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Section:
    title: str
    note: str
    headers: list[str]
    rows: list[list[str]]


def headline(merged: MergedCohort) -> str:
    counts = ", ".join(f"{merged.count(o)} {o}" for o in ("verified", "not verified", "invalid", "refused", "failed")
                       if merged.count(o))
    graders = "; ".join(f"grader {g.grader_version}" + (" with --retrain" if g.options.retrain else "")
                        for g in merged.graders)
    return f"{len(merged.rows)} bundles: {counts or 'none'} ({graders})."


def _cell(row: BundleRow, milestone_id: str) -> str:
    check = next((c for c in row.checked if c.id == milestone_id), None)
    if check is None:
        return MISSING
    verified = f"{check.verified} {check.tests}".strip() if check.verified != "not run" else "not run"
    mark = "" if check.agrees else " ✗"
    return f"{check.claimed} / {verified}{mark}"


def learner_rows(merged: MergedCohort) -> tuple[list[str], list[list[str]]]:
    ids = [m.id for m in merged.cohort.milestones]
    ids += sorted({c.id for r in merged.rows for c in r.checked} - set(ids))
    headers = ["learner", "outcome", *ids, "reason"]
    rows = [[r.label, f"{r.document.outcome} ({r.document.exit_code})", *[_cell(r, m) for m in ids],
             r.document.reason if r.document.exit_code else ""] for r in merged.rows]
    return headers, rows


def verified_rows(merged: MergedCohort) -> tuple[list[str], list[list[str]]]:
    headers = ["milestone", "claimed passes", "verified here", "share"]
    rows = [[mid, str(claimed), str(ok), _pct(ok / claimed)] for mid, (claimed, ok) in merged.verified.items()]
    return headers, rows


def target_rows(merged: MergedCohort) -> tuple[list[str], list[list[str]]]:
    headers = ["milestone (or together)", "target", "passed", "hours: median (quartiles)", *TIMING_CLASSES]
    rows = [[t.title, f"{t.low:g}-{t.high:g} h", str(t.hours.n if t.hours else 0),
             _hours(t.hours), *[str(t.classes[c]) for c in TIMING_CLASSES]] for t in merged.targets]
    return headers, rows


def _hours(s) -> str:
    return hours_spread(s.median * 3600, s.q1 * 3600, s.q3 * 3600) if s else MISSING


def calibration_rows(merged: MergedCohort) -> tuple[list[str], list[list[str]]]:
    headers = ["stated chance of passing at the first test", "predictions", "mean stated", "passed first time"]
    rows = [[f"{b.low:.0%}-{b.high:.0%}", str(b.n), _pct(b.stated), _pct(b.passed)] for b in merged.calibration]
    return headers, rows


def sections(merged: MergedCohort) -> list[Section]:
    cohort = merged.cohort
    found = [
        Section("Per learner: claimed / verified here",
                "Each cell: what the learner's log claims / what re-grading with this grader found (tests passed). "
                "✗: a claimed pass that did not verify. Outcome: the bundle's `challenge verify` exit code.",
                *learner_rows(merged)),
        Section("Claimed passes verified", "", *verified_rows(merged)),
    ]
    if cohort.milestones:
        found += [
            Section(f"Per milestone ({len(cohort.learners)} learners, their own records)",
                    "Active time excludes pauses, idle gaps and self-reported time; Brier compares the chance each "
                    "learner stated of passing at the first test with what happened (0 perfect, 0.25 a coin).",
                    *cohort_milestone_rows(cohort)),
            Section("Time against the challenge's targets",
                    "Hours of those who passed (active and self-reported, as their own report judges them), "
                    "classed by the report's rule (roughly on time: up to 1.5x the target's upper end).",
                    *target_rows(merged)),
            Section("Calibration across the cohort",
                    "Every stated chance of passing a milestone at the first test, binned: a well-calibrated "
                    "cohort passes about as often as it says.", *calibration_rows(merged)),
            Section("Where each learner falls",
                    "pNN: percentile of active time among those who passed the milestone (lower is faster).",
                    *cohort_learner_rows(cohort)),
        ]
    if cohort.similar:
        found.append(Section("Similar code", f"Pairs of files sharing at least {THRESHOLD:.0%} of their code "
                             "(renaming and layout do not count; the stub is left out), and files sharing as much "
                             "with the reference.", *cohort_similarity_rows(cohort)))
    notes = [[file, reason] for file, reason in merged.unreadable] + [["conflict", c] for c in merged.conflicts]
    if notes:
        found.append(Section("Documents left out or in conflict", "", ["file", "reason"], notes))
    return found


def render_markdown(merged: MergedCohort) -> str:
    lines = [f"# Cohort report: {len(merged.rows)} bundles verified", "", md_inline(headline(merged)), ""]
    for section in sections(merged):
        lines += [f"## {section.title}", ""]
        if section.note:
            lines += [md_inline(section.note), ""]
        lines += md_table(section.headers, section.rows) + [""]
    return "\n".join(lines)


def render_html(merged: MergedCohort) -> str:
    esc = html_text
    parts = ["<!doctype html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             f"<title>Cohort report: {len(merged.rows)} bundles</title>", f"<style>{_CSS}</style></head><body>",
             f"<h1>Cohort report: {len(merged.rows)} bundles verified</h1>", f"<p>{esc(headline(merged))}</p>"]
    for section in sections(merged):
        parts.append(f"<h2>{esc(section.title)}</h2>")
        if section.note:
            parts.append(f"<p class=\"note\">{esc(section.note)}</p>")
        parts.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in section.headers) + "</tr></thead>")
        parts.append("<tbody>" + "".join("<tr>" + "".join(_td(c, esc) for c in row) + "</tr>"
                                         for row in section.rows) + "</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _td(cell: str, esc) -> str:
    return f'<td class="bad">{esc(cell)}</td>' if "✗" in cell else f"<td>{esc(cell)}</td>"


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;"
        "margin-bottom:1.5em}th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;font-size:.9em}"
        "th{background:#f3f3f3}.note{color:#555}.bad{color:#b00;font-weight:bold}")


def merged_to_dict(merged: MergedCohort) -> dict[str, Any]:
    """The report as data: deterministic (no time of day, sorted keys when dumped)."""
    cohort = merged.cohort
    return {
        "schema": SCHEMA, "version": SCHEMA_VERSION,
        "graders": [g.model_dump(mode="json") for g in merged.graders],
        "counts": {o: merged.count(o) for o in ("verified", "not verified", "invalid", "refused", "failed")},
        "exit_code": merged.exit_code,
        "bundles": [{"label": r.label, "bundle_sha256": r.document.bundle_sha256, "source": r.document.source,
                     "outcome": r.document.outcome, "exit_code": r.document.exit_code, "reason": r.document.reason,
                     "milestones": [c.model_dump(mode="json") for c in r.checked]} for r in merged.rows],
        "learners": [asdict(ln) for ln in cohort.learners],
        "milestones": [asdict(s) | {"pass_rate": s.pass_rate} for s in cohort.milestones],
        "verified": {mid: {"claimed": c, "verified": v} for mid, (c, v) in merged.verified.items()},
        "targets": [asdict(t) for t in merged.targets],
        "calibration": [asdict(b) for b in merged.calibration],
        "similar": [asdict(p) for p in cohort.similar],
        "left_out": [{"file": f, "reason": r} for f, r in merged.unreadable],
        "conflicts": merged.conflicts,
    }


def render_json(merged: MergedCohort) -> str:
    return json.dumps(merged_to_dict(merged), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def section_tables(merged: MergedCohort) -> list:
    """The sections as rich tables for the terminal (every cell escaped: it may come from a bundle)."""
    from rich import box
    from rich.table import Table

    from challenge.output import untrusted

    tables = []
    for section in sections(merged):
        table = Table(title=untrusted(section.title), caption=untrusted(section.note) or None, title_justify="left",
                      caption_justify="left", box=box.SIMPLE_HEAD)
        for index, header in enumerate(section.headers):
            table.add_column(untrusted(header), no_wrap=index == 0, overflow="fold")
        for row in section.rows:
            table.add_row(*[f"[red]{untrusted(c)}[/red]" if "✗" in c else untrusted(c) for c in row])
        tables.append(table)
    return tables
