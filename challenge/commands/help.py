"""`challenge hint` and `challenge peek`: help, always logged."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.syntax import Syntax

from challenge.bookkeeping import peek_reference, take_hint
from challenge.commands.context import open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.output import out


def hint(milestone: MilestoneArg, workspace: WorkspaceOpt = None) -> None:
    """Unlock the next hint for a milestone (logged as help used).

    Example:
      challenge hint attention
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    result = take_hint(workspace=ctx.workspace, milestone=m)
    if result.text is None:
        out.text(f"All {result.total} hints for {m.id} are unlocked. `challenge peek {m.id}` shows the reference.")
        return
    out.text(f"[bold]Hint {result.index + 1}/{result.total}[/bold] for {m.id}:\n{result.text}")


def peek(
    milestone: MilestoneArg,
    force: Annotated[bool, typer.Option("--force", help="Show it before any failed attempt (still logged).")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show the reference solution, after at least one graded attempt (logged as help used).

    Examples:
      challenge peek attention
      challenge peek attention --force
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    path = peek_reference(workspace=ctx.workspace, registry=ctx.registry, milestone=m, force=force)
    out.renderable(Syntax(path.read_text(encoding="utf-8"), "python", line_numbers=True))
    out.text(f"[dim]Logged as help used on {m.id}.[/dim]")
