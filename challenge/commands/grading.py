"""`challenge test` and `challenge watch`."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from challenge.feedback.after_pass import AfterPass, PassState, choices, next_step, pass_state
from challenge.record.bookkeeping import pause_clock, start_milestone
from challenge.commands.clock import begin, option_value
from challenge.commands.context import Context, open_context
from challenge.commands.options import JsonOpt, MilestoneArg, WorkspaceOpt
from challenge.feedback.grading import record_confidence, run_tests, sandbox_for_tests
from challenge.feedback.progress_line import grading_progress
from challenge.output import out
from challenge.prompts import choose, read_chance
from challenge.feedback.render_results import render_run
from challenge.run_requests import learner_file_of

EXIT = {"pass": 0, "fail": 1, "error": 2}
DEBOUNCE_S = 0.05  # a save is complete when the file has not changed for this long

VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Also every test, and every failure in its own box.")]
AfterPassOpt = Annotated[Optional[AfterPass], typer.Option(
    "--after-pass", help="After a pass, when the clock runs on this milestone: pause it, start the next milestone "
                         "(next), or keep it running. Asked on a terminal after the first pass; scripts pass this.",
    case_sensitive=False, show_default=False)]


def test(
    milestone: MilestoneArg,
    seed: Annotated[Optional[int], typer.Option(help="Re-run with the shapes and values of an earlier run.")] = None,
    confidence: Annotated[Optional[str], typer.Option(help="Before it runs: how sure are you that it passes "
                                                      "(70%, 70 or 0.7)?")] = None,
    verbose: VerboseOpt = False,
    after_pass: AfterPassOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run the hidden tests on your code, in a sandbox, and explain what is wrong.

    Failures are grouped by what is wrong: one box per mistake the judge
    diagnosed (with its evidence and the tests it explains), then one per failing
    test family it could not diagnose. The last line names what to fix first.
    After a pass it says what comes next, and asks where the clock goes.
    While it runs, a terminal shows which test is running and how many come
    after it. A function of yours that does not return within the call limit
    is waited out once: the later tests that call it are reported as not run.

    Exit status: 0 all passed, 1 tests failed, 2 your code could not be loaded (or misuse).

    Examples:
      challenge test attention
      challenge test attention --confidence 80%
      challenge test attention --verbose
      challenge test attention --after-pass next
      challenge test multihead --seed 1234 --json
    """
    # The sandbox starts first: it imports torch while this process reads the workspace and imports its own.
    with sandbox_for_tests() as warm:
        ctx = open_context(workspace)
        m = ctx.milestone(milestone)
        learner_file_of(ctx.workspace, m)
        chance = option_value("--confidence", confidence, read_chance)
        if chance is not None:
            record_confidence(workspace=ctx.workspace, milestone=m, confidence=chance)
        if not as_json:
            out.text(f"Testing [bold]{m.id}[/bold] in a sandbox ...")
        with grading_progress(out.console, label=m.id, quiet=as_json) as on_progress:
            outcome = run_tests(workspace=ctx.workspace, registry=ctx.registry, milestone=m, seed=seed, grader=warm,
                                on_progress=on_progress)
    if as_json:
        out.json(outcome.result.to_dict())
    else:
        render_run(out, outcome.result, milestone_id=m.id, verbose=verbose, results_file=outcome.results_file,
                   next_command=out.run_again or f"challenge test {m.id}")
        _say_if_stub(outcome)
    if outcome.result.status == "pass":
        _after_pass(ctx, pass_state(workspace=ctx.workspace, registry=ctx.registry, milestone=m), after_pass,
                    quiet=as_json)
    raise typer.Exit(EXIT.get(outcome.result.status, 2))


def _after_pass(ctx: Context, state: PassState, chosen: AfterPass | None, *, quiet: bool = False,
                watching: bool = False) -> AfterPass | None:
    """Say what comes next, and pause or move the clock as the learner chooses; returns what was done."""
    m = state.milestone
    if not quiet:
        out.text(f"[bold]{next_step(state)}[/bold]")
    if not state.clock_here:
        return None
    if chosen is None and state.first_pass and out.interactive and not quiet:
        options = choices(state)
        if watching:
            options = {key: text + (" and watch its file" if key == "next" else "") for key, text in options.items()}
        out.text("The clock is still running on " + m.id + ": " + "; ".join(f"{k}: {v}" for k, v in options.items()))
        chosen = AfterPass(choose("What now?", options, default=AfterPass.pause.value))
    if chosen is None:
        if not quiet and state.first_pass:
            move = f" or `challenge start {state.next.id}`" if state.next else ""
            out.text(f"[dim]The clock keeps running on {m.id}: `challenge pause`{move} "
                     "(scripts: --after-pass pause|next|keep).[/dim]")
        return None
    if chosen is AfterPass.next and state.next is None:
        chosen = AfterPass.pause  # nothing left to move to
    if chosen is AfterPass.pause:
        pause_clock(workspace=ctx.workspace, after_pass=True)
        if not quiet:
            out.success(f"Clock paused on {m.id}. `challenge resume` or `challenge start NEXT` when you go on.")
    elif chosen is AfterPass.next:
        if quiet:  # --json: nothing but the document on stdout
            start_milestone(workspace=ctx.workspace, registry=ctx.registry, milestone=state.next, after_pass_of=m.id)
        else:
            begin(ctx, state.next, predict_hours=None, predict_pass=None, after_pass_of=m.id)
    elif not quiet:
        out.text(f"The clock keeps running on {m.id}.")
    return chosen


def watch(
    milestone: MilestoneArg,
    interval: Annotated[float, typer.Option(help="Seconds between checks of your file.")] = 0.05,
    verbose: VerboseOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Re-run the tests every time you save your file (Ctrl-C to stop).

    Saves are debounced; this polls modification times, which works on every
    filesystem (including WSL and network drives). The sandbox stays warm
    between runs: each save costs a fork, not a new Python with torch. After a
    pass it offers to move on to the next milestone and watch its file.

    Example:
      challenge watch attention
    """
    from challenge.record.bookkeeping import record_edits

    from grader import api

    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    path = learner_file_of(ctx.workspace, m)
    ctx.workspace.log.append("watch", milestone=m.id)
    out.text(f"Watching {path} (Ctrl-C to stop) ...")
    last_seen = None
    # One sandbox for the whole session: each save forks a fresh worker from it (no Python or torch start-up).
    with api.WarmGrader() as warm:
        try:
            while True:
                stamp = _stamp(path)
                if stamp != last_seen:
                    time.sleep(DEBOUNCE_S)  # editors write in bursts
                    if _stamp(path) != stamp:
                        continue
                    last_seen = stamp
                    record_edits(workspace=ctx.workspace, registry=ctx.registry)
                    out.console.rule(f"{m.id} · {time.strftime('%H:%M:%S')}")
                    with grading_progress(out.console, label=m.id) as on_progress:
                        outcome = run_tests(workspace=ctx.workspace, registry=ctx.registry, milestone=m,
                                            grader=warm, on_progress=on_progress)
                    render_run(out, outcome.result, milestone_id=m.id, verbose=verbose,
                               next_command="save your file to run the tests again")
                    _say_if_stub(outcome)
                    if outcome.result.status == "pass":
                        state = pass_state(workspace=ctx.workspace, registry=ctx.registry, milestone=m)
                        done = _after_pass(ctx, state, None, watching=True)
                        if done is AfterPass.pause:
                            break
                        if done is AfterPass.next and state.next is not None:
                            m = state.next
                            path = learner_file_of(ctx.workspace, m)
                            ctx.workspace.log.append("watch", milestone=m.id)
                            out.text(f"Watching {path} (Ctrl-C to stop) ...")
                            last_seen = None  # its first run right away, as when watch starts
                            continue
                    last_seen = _stamp(path)
                time.sleep(max(0.05, interval))
        except (KeyboardInterrupt, api.Interrupted):
            out.text("Stopped watching.")
            return
    out.text("Stopped watching.")


def _stamp(path) -> tuple[float, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_mtime, info.st_size


def _say_if_stub(outcome) -> None:
    if outcome.stub:
        out.text("[dim]That was the untouched stub: a look at the tests, not counted as an attempt.[/dim]")
