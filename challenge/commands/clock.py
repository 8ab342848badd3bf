"""`challenge start`, `pause`, `resume` and `log-time`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from challenge.bookkeeping import log_time as log_time_action
from challenge.bookkeeping import pause_clock, progress_of, resume_clock, start_milestone
from challenge.commands.context import open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.durations import format_duration, parse_duration
from challenge.errors import UsageError
from challenge.output import out


def _ask_predictions(predict_hours: float | None, predict_pass: float | None) -> tuple[float | None, float | None]:
    """Ask on a terminal only; scripts pass the options or skip them."""
    if not out.interactive:
        return predict_hours, predict_pass
    if predict_hours is None:
        predict_hours = typer.prompt("How many hours do you expect this milestone to take?", type=float)
    if predict_pass is None:
        predict_pass = typer.prompt("How likely is it (0-1) that your first `challenge test` passes?", type=float)
    return predict_hours, predict_pass


def start(
    milestone: MilestoneArg,
    predict_hours: Annotated[Optional[float],
                             typer.Option(help="Your prediction: hours this milestone will take.")] = None,
    predict_pass: Annotated[Optional[float],
                            typer.Option(help="Your prediction: probability (0-1) the first test passes.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Start (or switch to) a milestone: copy its stub and instructions, start the clock.

    Your code is never overwritten. Predictions are asked once, on the first start.

    Examples:
      challenge start attention
      challenge start attention --predict-hours 2 --predict-pass 0.5
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    if not progress_of(ctx.workspace, m).started:
        predict_hours, predict_pass = _ask_predictions(predict_hours, predict_pass)
    result = start_milestone(workspace=ctx.workspace, registry=ctx.registry, milestone=m,
                             predict_hours=predict_hours, predict_pass=predict_pass)
    rel = result.learner_file.relative_to(ctx.workspace.root)
    if result.created:
        out.success(f"Started [bold]{m.id}[/bold]: {m.title}")
        out.text(f"Your file: {result.learner_file}\nInstructions: {result.learner_file.parent / 'README.md'}")
    else:
        out.success(f"Switched to [bold]{m.id}[/bold]; your file {rel} was left as it is.")
    if result.missing_prerequisites:
        out.warn("Not passed yet: " + ", ".join(result.missing_prerequisites) + ". You can go on, but they come first.")
    out.text(f"Target: {m.target_hours}. The clock is running; "
             f"`challenge pause` when you stop. Check your work with [bold]challenge test {m.id}[/bold].")


def pause(workspace: WorkspaceOpt = None) -> None:
    """Pause the clock (a break, the end of the day).

    Example:
      challenge pause
    """
    ctx = open_context(workspace)
    current = pause_clock(workspace=ctx.workspace)
    out.success(f"Clock paused on {current}. `challenge resume` to go on.")


def resume(workspace: WorkspaceOpt = None) -> None:
    """Resume the clock on the milestone you were working on.

    Example:
      challenge resume
    """
    ctx = open_context(workspace)
    current = resume_clock(workspace=ctx.workspace)
    out.success(f"Clock running on {current}.")


def log_time(
    milestone: MilestoneArg,
    add: Annotated[str, typer.Option("--add", help="Time to add (or remove with a minus): 1h30m, 45m, -20m.")],
    note: Annotated[str, typer.Option("--note", help="Why: shown next to the adjustment in the report.")] = "",
    workspace: WorkspaceOpt = None,
) -> None:
    """Add or remove time by hand; the report marks it as self-reported.

    Examples:
      challenge log-time attention --add 1h30m --note "read the paper offline"
      challenge log-time block --add -20m --note "forgot to pause over lunch"
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    try:
        seconds = parse_duration(add)
    except ValueError as error:
        raise UsageError(str(error), "Examples: --add 1h30m, --add 45m, --add -20m") from None
    log_time_action(workspace=ctx.workspace, milestone=m, seconds=seconds, note=note)
    out.success(f"Logged {format_duration(seconds)} on {m.id} (self-reported).")
