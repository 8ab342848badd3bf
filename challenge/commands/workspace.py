"""`challenge init`, `list` and `status`: bookkeeping only, no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from challenge.commands.context import open_context
from challenge.commands.options import WorkspaceOpt
from challenge.record.durations import format_duration, format_hours
from challenge.output import out
from challenge.record.progress import MilestoneProgress, derive_progress
from challenge.record.timekeeping import account
from challenge.record.workspace import init_workspace
from milestones import load_registry

STATUS_STYLE = {"passed": "green", "in progress": "yellow", "not started": "dim"}


def init(
    handle: Annotated[str, typer.Option("--handle", help="Your name or handle, used in the bundle's file name.")],
    workspace: Annotated[Optional[Path], typer.Option("--workspace", "-w",
                                                      help="Where to create it. Default: submissions/HANDLE.")] = None,
    idle_minutes: Annotated[float, typer.Option(help="Gaps without activity longer than this count as idle, "
                                                     "not active.")] = 30,
) -> None:
    """Create your workspace.

    Examples:
      challenge init --handle ada
      challenge init --handle ada --workspace ~/transformer-challenge
    """
    created = init_workspace(handle=handle, path=workspace, idle_threshold_s=idle_minutes * 60)
    out.success(f"Workspace for [bold]{handle}[/bold] created at {created.root}")
    out.text("Next: [bold]challenge list[/bold] to see the milestones, then [bold]challenge start attention[/bold].")


def list_milestones(workspace: WorkspaceOpt = None) -> None:
    """List the milestones with their target hours, your status and time so far.

    Example:
      challenge list
    """
    registry = load_registry()
    progress: dict[str, MilestoneProgress] = {}
    times = None
    try:
        ctx = open_context(workspace)
    except Exception:  # listing works before `init` too
        ctx = None
    if ctx:
        events = ctx.workspace.log.read().events
        progress = derive_progress(events)
        times = account(events, now=ctx.workspace.clock(), idle_threshold_s=ctx.workspace.config.idle_threshold_s)
    table = Table(title="Milestones", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1),
                  collapse_padding=True, show_edge=False)
    for column in ("#", "milestone", "title", "target", "status", "active time"):
        table.add_column(column, no_wrap=column != "title")
    for m in registry.milestones:
        item = progress.get(m.id, MilestoneProgress(m.id))
        spent = format_duration(times.of(m.id).total_s) if times and item.started else ""
        label = f"{m.id}" + (" [dim](bonus)[/dim]" if m.bonus else "")
        table.add_row(f"{m.number:02d}", label, m.title, str(m.target_hours),
                      f"[{STATUS_STYLE[item.status]}]{item.status}[/]", spent)
    out.table(table)
    groups = ", ".join(f"{g.title}: {g.target_hours}"
                       for key, g in registry.groups.groups.items() if key != "bonus")
    out.text(f"[dim]Challenge targets per group: {groups}.[/dim]")
    if not ctx:
        out.text("No workspace yet: [bold]challenge init --handle YOUR_NAME[/bold]")


def status(workspace: WorkspaceOpt = None) -> None:
    """Show the clock, the current milestone and time per milestone.

    Example:
      challenge status
    """
    ctx = open_context(workspace)
    reading = ctx.workspace.log.read()
    times = account(reading.events, now=ctx.workspace.clock(), idle_threshold_s=ctx.workspace.config.idle_threshold_s)
    progress = derive_progress(reading.events)
    out.text(f"Workspace [bold]{out.untrusted(ctx.workspace.handle)}[/bold] at {out.untrusted(ctx.workspace.root)}")
    clock = "[green]running[/green]" if times.running else "[yellow]paused[/yellow]" if times.current else "not started"
    out.text(f"Clock: {clock}" + (f" on [bold]{times.current}[/bold]" if times.current else ""))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False)
    for column in ("milestone", "status", "active", "idle", "paused", "adjusted", "tests", "hints", "peeks"):
        table.add_column(column, no_wrap=True)
    for m in ctx.registry.milestones:
        item = progress.get(m.id)
        if not item or not item.started:
            continue
        t = times.of(m.id)
        table.add_row(m.id, f"[{STATUS_STYLE[item.status]}]{item.status}[/]", format_duration(t.active_s),
                      format_duration(t.idle_s), format_duration(t.paused_s),
                      format_duration(t.adjusted_s) if t.adjusted_s else "", str(len(item.attempts)),
                      f"{item.hints_used}/{len(m.hints)}", str(item.peeks))
    if table.row_count:
        out.table(table)
        total = times.total
        adjusted = f" (including {format_duration(total.adjusted_s)} self-reported)" if total.adjusted_s else ""
        out.text(f"Total time: {format_hours(total.total_s)}{adjusted}")
    else:
        out.text("No milestone started yet: [bold]challenge start attention[/bold]")
    for problem in reading.problems:
        if problem.kind == "torn":
            out.warn(f"events.jsonl line {problem.line}: {problem.detail}; skipped.")
        elif problem.kind in ("malformed", "unusable"):
            out.warn(f"events.jsonl line {problem.line}: {problem.detail}; skipped.")
        elif problem.kind == "head":
            out.warn(problem.detail)
        elif problem.kind == "chain":
            out.warn(f"events.jsonl line {problem.line}: {problem.detail}. The log's integrity check fails.")
    for loss in reading.losses:
        out.warn(f"events were lost from your log: {loss}. The time, attempts and help they held are gone; "
                 "`challenge submit` will need --accept-log-loss (the loss is recorded in the bundle). "
                 "Restore events.jsonl from a backup if you have one.")
