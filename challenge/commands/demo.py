"""`challenge demo`: the whole challenge, played by a simulated learner."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from challenge.output import out
from milestones import load_registry


def demo(
    fast: Annotated[bool, typer.Option("--fast", help="Skip the training milestones (about a minute instead of ten).")] = False,
    folder: Annotated[Optional[Path], typer.Option("--folder", help="Where to put the demo workspace, report and "
                                                   "bundle. Default: a new temporary folder (kept).")] = None,
) -> None:
    """Watch a simulated learner do the challenge: tests, training, report, bundle, verification.

    The learner uses the reference solutions (after a classic mistake on the first
    try, to show how failures are explained). Time is simulated; grading, training
    and verification are real. Nothing outside the demo folder is touched.

    Examples:
      challenge demo
      challenge demo --fast
    """
    from challenge.bundle.render import verification_table
    from challenge.demo import finish_demo, run_demo
    from challenge.render_results import render_summary
    from challenge.report import build_report
    from challenge.report.render_terminal import render_terminal

    registry = load_registry()
    target = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="challenge-demo-"))
    target.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def say(text: str) -> None:
        out.text(text)

    def show_result(result, label: str) -> None:
        render_summary(out, result, label=label)

    out.console.rule("challenge demo")
    result = run_demo(folder=target, registry=registry, fast=fast, say=say, show_result=show_result)
    out.console.rule("the report")
    finish_demo(result, registry=registry, say=say)
    out.renderable(render_terminal(build_report(workspace_root=result.workspace.root, registry=registry,
                                                now=result.workspace.clock())))
    out.console.rule("the employer's view")
    out.table(verification_table(result.verification, with_retrain=False))
    out.console.rule("done")
    out.text(f"Demo finished in {time.monotonic() - started:.0f} s. Everything is in {target}:\n"
             f"  report: {target / 'report.html'} (and report.md)\n  bundle: {result.bundle}")
    if result.skipped:
        out.text(f"Not played: {', '.join(result.skipped)}" + (" (--fast)" if fast else " (no data or training failed)"))
    out.text("\nStart for real:\n  [bold]challenge init --handle YOUR_NAME[/bold]\n"
             "  [bold]challenge start attention[/bold]")
    exit_code = getattr(result.verification, "exit_code", 0)
    raise typer.Exit(0 if exit_code == 0 else 1)
