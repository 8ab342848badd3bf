"""What a training run reports while it runs, as text and callbacks: shared by the terminal's bar
(``challenge.training.bar``) and the notebook's (``challenge.notebook.progress``), so neither imports the other."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class TrainingBar:
    """Callbacks for ``challenge.training.run.train_milestone``."""

    on_progress: Callable[[dict], None]
    on_stop_requested: Callable[[], None]


def progress_text(info: dict, *, budget_s: float) -> str:
    """The bar's text from one progress message of the worker (untrusted: any value may be missing or odd).

    The budget is CPU seconds, so the bar fills in CPU seconds; the time left is
    wall time, from the CPU seconds the run has been getting per wall second.
    """
    step, loss = number_of(info, "step"), number_of(info, "loss")
    text = f"step {int(step) if step is not None else '?'} · loss {loss if loss is not None else math.nan:.3f}"
    if rate := number_of(info, "tokens_per_s"):
        text += f" · {rate:,.0f} tok per CPU s"
    cpu = number_of(info, "elapsed_s")
    if cpu is None:
        return text
    text += f" · CPU {min(cpu, budget_s):.0f}/{budget_s:g} s"
    wall, left = number_of(info, "wall_s"), number_of(info, "time_left_s")
    if wall and cpu > 0 and left is not None:
        text += f" · about {_clock_text(left * wall / cpu)} left"
    return text


def number_of(info: dict, key: str) -> float | None:
    value = info.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(int(round(max(0.0, min(seconds, 359_999.0)))), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}" if minutes >= 60 else f"{minutes}:{secs:02d}"
