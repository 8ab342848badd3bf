"""The progress bar of a training run (`challenge train`, `challenge demo --full`):
steps, loss, tokens per second and the time left of the budget."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


@dataclass(frozen=True)
class TrainingBar:
    """Callbacks for ``challenge.training.train_milestone``."""

    on_progress: Callable[[dict], None]
    on_stop_requested: Callable[[], None]


@contextmanager
def training_bar(console: Console, *, label: str, budget_s: float) -> Iterator[TrainingBar]:
    """Show a bar that fills with the training's elapsed time against its budget; full when the block ends."""
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[stats]}"),
                        TimeRemainingColumn(), console=console, transient=False)
    with progress:
        bar = progress.add_task(label, total=budget_s, stats="starting the sandbox ...")

        def on_progress(info: dict) -> None:
            stats = f"step {info.get('step', 0)} · loss {info.get('loss', float('nan')):.3f}"
            if info.get("tokens_per_s"):
                stats += f" · {info['tokens_per_s']:,.0f} tok/s"
            progress.update(bar, completed=min(budget_s, float(info.get("elapsed_s", 0))), stats=stats)

        def on_stop_requested() -> None:
            progress.update(bar, stats="stopping: your loop finishes its step, the model is kept "
                                       "(Ctrl-C again to abandon)")

        yield TrainingBar(on_progress, on_stop_requested)
        progress.update(bar, completed=budget_s)
