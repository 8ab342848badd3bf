"""`challenge test` and `challenge watch`."""

from __future__ import annotations

import time
from typing import Annotated, Optional

import typer

from challenge.commands.context import open_context
from challenge.commands.options import JsonOpt, MilestoneArg, WorkspaceOpt
from challenge.grading import record_confidence, run_tests
from challenge.run_requests import learner_file_of
from challenge.output import out
from challenge.render_results import render_run

EXIT = {"pass": 0, "fail": 1, "error": 2}
DEBOUNCE_S = 0.05  # a save is complete when the file has not changed for this long


def test(
    milestone: MilestoneArg,
    seed: Annotated[Optional[int], typer.Option(help="Re-run with the shapes and values of an earlier run.")] = None,
    confidence: Annotated[Optional[float],
                          typer.Option(help="Before it runs: how sure are you (0-1) that it passes?")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run the hidden tests on your code, in a sandbox, and explain every failure.

    Exit status: 0 all passed, 1 tests failed, 2 your code could not be loaded (or misuse).

    Examples:
      challenge test attention
      challenge test attention --confidence 0.8
      challenge test multihead --seed 1234 --json
    """
    from grader import api

    # The sandbox starts first: it imports torch while this process reads the workspace and imports its own.
    with api.WarmGrader() as warm:
        ctx = open_context(workspace)
        m = ctx.milestone(milestone)
        learner_file_of(ctx.workspace, m)
        if confidence is not None:
            record_confidence(workspace=ctx.workspace, milestone=m, confidence=confidence)
        if not as_json:
            out.text(f"Testing [bold]{m.id}[/bold] in a sandbox ...")
        outcome = run_tests(workspace=ctx.workspace, registry=ctx.registry, milestone=m, seed=seed, grader=warm)
    if as_json:
        out.json(outcome.result.to_dict())
    else:
        render_run(out, outcome.result, milestone_id=m.id)
        out.text(f"[dim]Results saved to {outcome.results_file}[/dim]")
    raise typer.Exit(EXIT.get(outcome.result.status, 2))


def watch(
    milestone: MilestoneArg,
    interval: Annotated[float, typer.Option(help="Seconds between checks of your file.")] = 0.05,
    workspace: WorkspaceOpt = None,
) -> None:
    """Re-run the tests every time you save your file (Ctrl-C to stop).

    Saves are debounced; this polls modification times, which works on every
    filesystem (including WSL and network drives). The sandbox stays warm
    between runs: each save costs a fork, not a new Python with torch.

    Example:
      challenge watch attention
    """
    from challenge.bookkeeping import record_edits

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
                    outcome = run_tests(workspace=ctx.workspace, registry=ctx.registry, milestone=m, grader=warm)
                    render_run(out, outcome.result, milestone_id=m.id)
                    last_seen = _stamp(path)
                time.sleep(max(0.05, interval))
        except (KeyboardInterrupt, api.Interrupted):
            out.text("Stopped watching.")


def _stamp(path) -> tuple[float, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_mtime, info.st_size
