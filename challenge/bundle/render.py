"""Rendering a bundle's verification (terminal with rich, Markdown lines).
The cells are built once (``*_rows``) and shared by both outputs; the cohort's tables are in
``challenge.cohort.bundle_tables``."""

from __future__ import annotations

from rich import box
from rich.table import Table

from challenge.bundle.verify import WHAT_IT_PROVES, MilestoneVerification, Verification
from challenge.record.durations import format_duration
from challenge.report.cells import MISSING
from challenge.output import untrusted as escape  # every cell may come from the learner's bundle
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
            f"{key} {sandbox[key]}" for key in ("network", "filesystem", "tcp", "processes", "grader", "environment")
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
