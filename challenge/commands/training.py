"""`challenge train`: run your training loop in the sandbox, with a progress bar."""

from __future__ import annotations

import math
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn

from challenge.commands.context import open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.output import out
from challenge.training import require_training, train_milestone


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
    require_training(m)
    budget = budget_s if budget_s is not None else m.training.default_budget_s
    out.text(f"Preparing the data for [bold]{m.id}[/bold] ...")
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[stats]}"),
                        console=out.console, transient=False)
    with progress:
        bar = progress.add_task(f"training {m.id}", total=budget, stats="starting the sandbox ...")

        def on_progress(info: dict) -> None:
            progress.update(bar, completed=min(budget, _number(info, "elapsed_s") or 0.0),
                            stats=progress_text(info, budget_s=budget))

        def on_stop() -> None:
            progress.update(bar, stats="stopping: your loop finishes its step, the model is kept (Ctrl-C again to abandon)")

        result = train_milestone(workspace=ctx.workspace, registry=ctx.registry, milestone=m, budget_s=budget_s,
                                 device=device, seed=seed, on_progress=on_progress, on_stop_requested=on_stop)
        progress.update(bar, completed=budget)
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


def progress_text(info: dict, *, budget_s: float) -> str:
    """The bar's text from one progress message of the worker (untrusted: any value may be missing or odd).

    The budget is CPU seconds, so the bar fills in CPU seconds; the time left is
    wall time, from the CPU seconds the run has been getting per wall second.
    """
    step, loss = _number(info, "step"), _number(info, "loss")
    text = f"step {int(step) if step is not None else '?'} · loss {loss if loss is not None else math.nan:.3f}"
    if rate := _number(info, "tokens_per_s"):
        text += f" · {rate:,.0f} tok per CPU s"
    cpu = _number(info, "elapsed_s")
    if cpu is None:
        return text
    text += f" · CPU {min(cpu, budget_s):.0f}/{budget_s:g} s"
    wall, left = _number(info, "wall_s"), _number(info, "time_left_s")
    if wall and cpu > 0 and left is not None:
        text += f" · about {_clock_text(left * wall / cpu)} left"
    return text


def _number(info: dict, key: str) -> float | None:
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(round(max(0.0, min(seconds, 359_999.0)))), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"
