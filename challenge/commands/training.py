"""`challenge train`: run your training loop in the sandbox, with a progress bar."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from challenge.commands.context import open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.output import out
from challenge.run_requests import training_budget
from challenge.training.run import cache_dir_of, prepare_data, train_milestone
from challenge.training.bar import training_bar


def train(
    milestone: MilestoneArg,
    budget_s: Annotated[Optional[float], typer.Option("--budget-s", help=(
        "Training budget in CPU seconds of the sandboxed worker, at a fixed thread count (default from the "
        "milestone). A busy machine makes the run take longer, not train less."))] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    seed: Annotated[int, typer.Option(help="Seed for the model's initialisation and the batch order.")] = 0,
    workspace: WorkspaceOpt = None,
) -> None:
    """Train your model on the harness's data, in the sandbox, and save a checkpoint.

    The budget counts CPU time, so a run trains as much on a busy machine as on
    an idle one; the progress bar shows the CPU seconds used and estimates when,
    in wall time, the run will end. Ctrl-C stops early and keeps the model as it
    is (press it twice to abandon the run).

    Examples:
      challenge train classifier
      challenge train gpt --budget-s 600 --seed 1
      challenge train bert --device cuda
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    budget = training_budget(m, asked=budget_s)  # decided once: the bar and the run get this float
    out.text(f"Preparing the data for [bold]{m.id}[/bold] ...")
    task = prepare_data(m, cache_dir=cache_dir_of(ctx.workspace))
    with training_bar(out.console, label=f"training {m.id}", budget_s=budget) as bar:
        result = train_milestone(workspace=ctx.workspace, registry=ctx.registry, milestone=m, budget_s=budget,
                                 device=device, seed=seed, on_progress=bar.on_progress,
                                 on_stop_requested=bar.on_stop_requested, task=task)
    outcome = result.outcome
    if outcome.output.strip():
        out.text("[dim]your output:[/dim]\n[dim]" + outcome.output.strip()[-1500:] + "[/dim]")
    if outcome.status != "trained":
        out.error(f"Training failed. {outcome.message}", outcome.hint)
        raise typer.Exit(1)
    last = outcome.history[-1] if outcome.history else {}
    out.success(f"Trained {m.id} for {outcome.cpu_s:.0f} CPU s on {outcome.threads} thread(s) "
                f"({outcome.elapsed_s:.0f} s wall; {len(outcome.history)} logged steps, "
                f"stopped: {outcome.stopped_by}); final loss {last.get('loss', float('nan')):.3f}.")
    if not outcome.history:
        out.warn("Your loop never called task.log(step, loss): no progress or training log was recorded.")
    if outcome.forbidden_used:
        out.warn("Your model used " + ", ".join(outcome.forbidden_used) + ": the tests will refuse it.")
    curves = result.checkpoint_dir / "curves.png"
    if curves.is_file():
        out.text(f"Curves: {curves}")
    out.text(f"Checkpoint: {result.checkpoint_dir}\nNext: [bold]challenge test {m.id}[/bold]")
