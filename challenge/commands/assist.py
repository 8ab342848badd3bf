"""`challenge hint` and `challenge peek`: help, always logged, and said so before it is shown."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.syntax import Syntax

from challenge.record.bookkeeping import offer_next_hint, plan_peek, progress_of, record_peek, take_hint
from challenge.commands.context import open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.errors import UsageError
from challenge.output import out

YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; show it (it is still logged).")]


def hint(milestone: MilestoneArg, yes: YesOpt = False, workspace: WorkspaceOpt = None) -> None:
    """Unlock a hint for a milestone, logged as help used.

    It offers first the hint aimed at what your latest failed attempt shows (its
    diagnosis), then the others in order. It says that it will be logged before it
    shows the hint; on a terminal it asks first (--yes skips the question).

    Examples:
      challenge hint attention
      challenge hint attention --yes
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    offer = offer_next_hint(workspace=ctx.workspace, milestone=m)
    total = len(m.hints)
    if offer.index is None:
        out.text(f"All {total} hints for {m.id} are unlocked. `challenge peek {m.id}` shows the reference.")
        return
    used = progress_of(ctx.workspace, m).hints_used
    out.text(f"A hint for {m.id}, {offer.reason}. It is logged as help used: the report will show "
             f"{used + 1}/{total} hints for {m.id}.")
    if not yes and out.interactive and not typer.confirm("Show it?", default=True):
        out.text("Not shown, nothing logged.")
        return
    result = take_hint(workspace=ctx.workspace, milestone=m, offer=offer)
    out.text(f"[bold]Hint {result.index + 1}/{total}[/bold] for {m.id}:\n{out.untrusted(result.text)}")


def peek(
    milestone: MilestoneArg,
    force: Annotated[bool, typer.Option("--force", help="Show it before any failed attempt (still logged).")] = False,
    yes: YesOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show the reference solution, after at least one graded attempt (logged as help used).

    It first says what it will log and how that shows in your report, and asks;
    --yes skips the question (scripts must pass it: without a terminal and
    without --yes it refuses).

    Examples:
      challenge peek attention
      challenge peek attention --yes
      challenge peek attention --force
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    plan = plan_peek(workspace=ctx.workspace, registry=ctx.registry, milestone=m, force=force)
    if plan.before_pass:
        weight = (f"{m.id} is not passed yet, so in the report its verdict can be at best 'borderline' "
                  "(\"looked at the reference before passing\"), and an employer's `challenge show` and "
                  "`challenge verify` list the peek under help used.")
    else:
        weight = (f"{m.id} is passed already, so its verdict does not change; the peek is still listed under help "
                  "used in the report, `challenge show` and `challenge verify`.")
    what = "a peek at the reference before any failed attempt" if plan.forced else "a peek at the reference"
    out.text(f"This logs {what} for {m.id}. {weight}")
    if not yes:
        if not out.interactive:
            raise UsageError("peek asks for confirmation, and this is not a terminal.",
                             f"To show it anyway (logged as above): challenge peek {m.id} --yes")
        if not typer.confirm("Show the reference solution?", default=False):
            out.text("Not shown, nothing logged.")
            return
    record_peek(workspace=ctx.workspace, milestone=m, plan=plan)
    out.renderable(Syntax(plan.path.read_text(encoding="utf-8"), "python", line_numbers=True))
    out.text(f"[dim]Logged as a peek at the reference on {m.id}.[/dim]")
