"""The progress bar of a training run (`challenge train`, `challenge demo --full`):
steps, loss, tokens per second and the time left of the budget."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from challenge.training.progress import TrainingBar, number_of, progress_text


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
            progress.update(task, completed=min(budget_s, number_of(info, "elapsed_s") or 0.0),
                            stats=progress_text(info, budget_s=budget_s))

        def on_stop_requested() -> None:
            progress.update(task, stats="stopping: your loop finishes its step, the model is kept "
                                       "(Ctrl-C again to abandon)")

        yield TrainingBar(on_progress, on_stop_requested)
        progress.update(task, completed=budget_s)
