"""`challenge demo`: the whole challenge, played by a simulated learner."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from challenge.output import out
from milestones import load_registry


def demo(
    full: Annotated[bool, typer.Option("--full/--fast", help="--full also trains and grades the classifier, BERT "
                                       "and GPT (about 5 minutes instead of one; needs their data).")] = False,
    folder: Annotated[Optional[Path], typer.Option("--folder", help="Where to put the demo workspace, report and "
                                                   "bundle. Default: a new temporary folder (kept).")] = None,
) -> None:
    """Watch a simulated learner do the challenge: tests, training, report, bundle, verification.

    The learner uses the reference solutions (after a classic mistake on the first
    try, to show how failures are explained). Time is simulated; grading, training
    and verification are real. Nothing outside the demo folder is touched.

    By default the demo is fast (about a minute): the module milestones only, and it
    names what it skipped. --full adds the training milestones, each with a progress bar.

    Examples:
      challenge demo
      challenge demo --full
      challenge demo --full --folder /tmp/demo
    """
    from challenge.bundle.render import verification_table
    from challenge.demo import finish_demo, flagged_as_copies, run_demo
    from challenge.feedback.render_results import render_summary
    from challenge.report import build_report
    from challenge.report.render_terminal import render_terminal
    from challenge.training.bar import training_bar

    registry = load_registry()
    target = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="challenge-demo-"))
    target.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def say(text: str) -> None:
        out.text(text)

    def show_result(result, label: str) -> None:
        render_summary(out, result, label=label)

    def bar(label: str, budget_s: float):
        return training_bar(out.console, label=label, budget_s=budget_s)

    out.console.rule("challenge demo")
    result = run_demo(folder=target, registry=registry, full=full, say=say, show_result=show_result, bar=bar)
    out.console.rule("the report")
    finish_demo(result, registry=registry, say=say)
    out.renderable(render_terminal(build_report(workspace_root=result.workspace.root, registry=registry,
                                                now=result.workspace.clock())))
    out.console.rule("the employer's view")
    out.table(verification_table(result.verification, with_retrain=False))
    if why := flagged_as_copies(result.verification):
        out.text(why)
    out.console.rule("done")
    out.text(f"Demo finished in {time.monotonic() - started:.0f} s. Everything is in {target}:\n"
             f"  report: {target / 'report.html'} (and report.md)\n  bundle: {result.bundle}")
    _tell_what_was_not_played(result)
    out.text("\nStart for real:\n  [bold]challenge init --handle YOUR_NAME[/bold]\n"
             "  [bold]challenge start attention[/bold]")
    exit_code = getattr(result.verification, "exit_code", 0)
    raise typer.Exit(0 if exit_code == 0 and not result.failed else 1)


def _tell_what_was_not_played(result) -> None:
    """Every milestone the demo did not pass, with why, and the one command that changes it."""
    from challenge.data import describe_missing
    from challenge.errors import FETCH_COMMAND, IMPORT_COMMAND
    from challenge.demo import FAST_SKIP

    for milestone, problem in result.failed.items():
        out.text(f"[bold red]Failed[/bold red] {milestone}: {escape(problem)}")
    fast = [m for m, why in result.not_played.items() if why == FAST_SKIP]
    if fast:
        out.text(f"Skipped in this fast demo: {', '.join(fast)} (they train for minutes each). "
                 "See them trained and graded: [bold]challenge demo --full[/bold] (about 5 minutes).")
    if result.missing:
        out.text(f"No training data here for {escape(describe_missing(result.missing))}, and the Hugging Face "
                 f"hub is unreachable. Fix: [bold]{FETCH_COMMAND}[/bold] (once, online); offline: "
                 f"[bold]{IMPORT_COMMAND}[/bold] with a copy in the original formats.")
