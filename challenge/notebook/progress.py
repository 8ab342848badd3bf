"""The training progress bar in a notebook cell: one output, updated in place.

rich's live display needs ipywidgets in a notebook; an updatable display
(``display_id``) needs nothing beyond the kernel and works in Jupyter,
JupyterLab and VS Code alike. The text is the terminal bar's
(``challenge.training.progress.progress_text``), HTML-escaped.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from contextlib import contextmanager

from challenge.training.progress import TrainingBar, progress_text

UPDATE_EVERY_S = 0.25  # at most four redraws a second: each one is a message to the front end


@contextmanager
def notebook_training_bar(*, label: str, budget_s: float) -> Iterator[TrainingBar]:
    from IPython.display import display, update_display

    state = {"done": 0.0, "stats": "starting the sandbox ...", "drawn": 0.0}
    display_id = display(_bundle(label, budget_s, **_shown(state)), raw=True, display_id=True).display_id

    def redraw(*, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - state["drawn"] >= UPDATE_EVERY_S:
            state["drawn"] = now
            update_display(_bundle(label, budget_s, **_shown(state)), raw=True, display_id=display_id)

    def on_progress(info: dict) -> None:
        elapsed = info.get("elapsed_s")
        if isinstance(elapsed, (int, float)) and not isinstance(elapsed, bool):
            state["done"] = min(float(budget_s), max(0.0, float(elapsed)))
        state["stats"] = progress_text(info, budget_s=budget_s)
        redraw()

    def on_stop_requested() -> None:
        state["stats"] = "stopping: your loop finishes its step, the model is kept (interrupt again to abandon)"
        redraw(force=True)

    try:
        yield TrainingBar(on_progress, on_stop_requested)
        state["done"] = float(budget_s)
    finally:
        redraw(force=True)


def _shown(state: dict) -> dict:
    return {"done": state["done"], "stats": state["stats"]}


def _bundle(label: str, budget_s: float, *, done: float, stats: str) -> dict:
    """The bar as text (for logs and plain front ends) and as HTML."""
    width = 30
    filled = int(round(width * done / budget_s)) if budget_s > 0 else width
    text = f"{label} [{'#' * filled}{'.' * (width - filled)}] {stats}"
    markup = (f'<div style="font-family:monospace"><b>{html.escape(label)}</b> '
              f'<progress max="{budget_s:g}" value="{done:g}" style="width:16em;vertical-align:middle"></progress> '
              f"{html.escape(stats)}</div>")
    return {"text/plain": text, "text/html": markup}
