"""`challenge start`, `pause`, `resume` and `log-time`."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from challenge.record.bookkeeping import log_time as log_time_action
from challenge.record.bookkeeping import (
    pause_clock, progress_of, record_predictions, require_started, resume_clock, start_milestone,
)
from challenge.commands.context import Context, open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.record.durations import format_duration, parse_duration
from challenge.errors import UsageError
from challenge.output import out
from challenge.prompts import ask, read_chance, read_hours
from milestones import Milestone


PASS_QUESTION = "How likely is it that your first `challenge test` passes? (70%, 70 or 0.7)"
HOURS_QUESTION = "How many hours do you expect this milestone to take? (2, 2.5 or 1h30m)"


def _ask_predictions(predict_hours: float | None, predict_pass: float | None) -> tuple[float | None, float | None]:
    """Ask on a terminal for what the options did not give; an answer in another form is re-asked, never lost."""
    if predict_hours is None:
        predict_hours = ask(HOURS_QUESTION, read_hours)
    if predict_pass is None:
        predict_pass = ask(PASS_QUESTION, read_chance)
    return predict_hours, predict_pass


def option_value(option: str, given: str | None, read) -> float | None:
    """An option read like its prompt (``--predict-pass 70%``); a clear error naming the option otherwise."""
    if given is None:
        return None
    try:
        reading = read(given)
    except ValueError as error:
        example = "0.6" if read is read_chance else "2.5"
        raise UsageError(f"{option}: {error}.", f"Example: {option} {example}") from None
    if reading.echo:
        out.text(f"[dim]({option}: {reading.echo})[/dim]")
    return reading.value


def _missing_predictions(m, predict_hours: float | None, predict_pass: float | None) -> None:
    """Without a terminal nobody was asked: say what was not recorded and how to record it before the first test."""
    missing = {"hours": predict_hours is None, "chance of passing": predict_pass is None}
    if not any(missing.values()):
        return
    what = " and ".join(name for name, absent in missing.items() if absent)
    options = " ".join(option for option, absent in zip(("--hours 2", "--pass 60%"), missing.values()) if absent)
    out.warn(f"No prediction of the {what} was recorded for {m.id}: none was given (--predict-hours, --predict-pass) "
             "and this is not a terminal to ask on. The calibration report needs them. Record them before your "
             f"first test: challenge predict {m.id} {options}")


def begin(ctx: Context, m: Milestone, *, predict_hours: float | None, predict_pass: float | None,
          after_pass_of: str | None = None) -> None:
    """Start (or switch to) ``m`` and say what happened: used by `start`, and after a pass by `test` and `watch`."""
    first = not progress_of(ctx.workspace, m).started
    if first and out.interactive:
        predict_hours, predict_pass = _ask_predictions(predict_hours, predict_pass)
    elif first:
        _missing_predictions(m, predict_hours, predict_pass)
    result = start_milestone(workspace=ctx.workspace, registry=ctx.registry, milestone=m,
                             predict_hours=predict_hours, predict_pass=predict_pass, after_pass_of=after_pass_of)
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


def start(
    milestone: MilestoneArg,
    predict_hours: Annotated[Optional[str], typer.Option(help="Your prediction: hours this milestone will take "
                                                         "(2.5, or 1h30m).")] = None,
    predict_pass: Annotated[Optional[str], typer.Option(help="Your prediction: the chance the first test passes "
                                                        "(70%, 70 or 0.7).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Start (or switch to) a milestone: copy its stub and instructions, start the clock.

    Your code is never overwritten. Predictions are asked once, on the first start
    (on a terminal; scripts pass the options, or record them later with
    `challenge predict`, before the first test).

    Examples:
      challenge start attention
      challenge start attention --predict-hours 2 --predict-pass 50%
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    begin(ctx, m, predict_hours=option_value("--predict-hours", predict_hours, read_hours),
          predict_pass=option_value("--predict-pass", predict_pass, read_chance))


def predict(
    milestone: MilestoneArg,
    hours: Annotated[Optional[str], typer.Option("--hours", help="Hours you expect the milestone to take (2.5, 1h30m).")
                     ] = None,
    chance: Annotated[Optional[str], typer.Option("--pass", help="The chance your first test passes (70%, 70, 0.7).")
                      ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Record the predictions `start` did not get, before the milestone's first test.

    On a terminal it asks for what the options do not give. A prediction already
    recorded stays as it is; after the first test, it is too late (the report
    compares predictions with what happened).

    Examples:
      challenge predict attention --hours 2 --pass 60%
      challenge predict attention
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    predicted_hours = option_value("--hours", hours, read_hours)
    predicted_pass = option_value("--pass", chance, read_chance)
    item = require_started(workspace=ctx.workspace, milestone=m)
    if out.interactive and not item.attempts:  # ask only for what is neither given nor recorded
        if predicted_hours is None and item.predicted_hours is None:
            predicted_hours = ask(HOURS_QUESTION, read_hours)
        if predicted_pass is None and item.predicted_pass is None:
            predicted_pass = ask(PASS_QUESTION, read_chance)
    recorded = record_predictions(workspace=ctx.workspace, milestone=m, hours=predicted_hours, chance=predicted_pass)
    out.success(f"Predictions for {m.id}: {_said(recorded.predicted_hours, ' h')}, "
                f"{_said(recorded.predicted_pass, '', percent=True)} chance the first test passes.")


def _said(value: float | None, unit: str, *, percent: bool = False) -> str:
    if value is None:
        return "none"
    return f"{value:.0%}" if percent else f"{value:g}{unit}"


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
