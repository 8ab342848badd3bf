"""The progress bar of a training run (`challenge train`, `challenge demo --full`):
steps, loss, tokens per second and the time left of the budget."""

from __future__ import annotations

import math

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn


@dataclass(frozen=True)
class TrainingBar:
    """Callbacks for ``challenge.training.run.train_milestone``."""

    on_progress: Callable[[dict], None]
    on_stop_requested: Callable[[], None]


@contextmanager
def training_bar(console: Console, *, label: str, budget_s: float) -> Iterator[TrainingBar]:
    """Show a bar that fills with the training's CPU seconds against its budget; full when the block ends.

    In a notebook (a console rich found to be Jupyter's) the bar is one output of the cell, updated in place.
    """
    if console.is_jupyter:
        from challenge.notebook.progress import notebook_training_bar

        with notebook_training_bar(label=label, budget_s=budget_s) as bar:
            yield bar
        return
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[stats]}"),
                        console=console, transient=False)
    with progress:
        task = progress.add_task(label, total=budget_s, stats="starting the sandbox ...")

        def on_progress(info: dict) -> None:
            progress.update(task, completed=min(budget_s, _number(info, "elapsed_s") or 0.0),
                            stats=progress_text(info, budget_s=budget_s))

        def on_stop_requested() -> None:
            progress.update(task, stats="stopping: your loop finishes its step, the model is kept "
                                       "(Ctrl-C again to abandon)")

        yield TrainingBar(on_progress, on_stop_requested)
        progress.update(task, completed=budget_s)


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
