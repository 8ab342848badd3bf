"""`challenge train`: run your training loop in the sandbox, with a progress bar."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from challenge.commands.context import open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.output import out
from challenge.training.render import render_training
from challenge.run_requests import training_budget
from challenge.training.bar import training_bar
from challenge.training.run import cache_dir_of, prepare_data, train_milestone


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
    if not render_training(out, result):
        raise typer.Exit(1)
