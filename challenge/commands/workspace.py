"""`challenge init`, `list` and `status`: bookkeeping only, no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from challenge.commands.context import open_context
from challenge.commands.options import WorkspaceOpt
from challenge.record.durations import format_duration
from challenge.output import out
from challenge.record.progress import MilestoneProgress, derive_progress
from challenge.record.status import STATUS_STYLE, read_status, render_status
from challenge.record.timekeeping import account
from challenge.record.workspace import init_workspace
from milestones import load_registry



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
    render_status(out, read_status(workspace=ctx.workspace, registry=ctx.registry))


