"""Curves of a training log (e.g. train and validation accuracy over steps), as a PNG."""

from __future__ import annotations

from pathlib import Path


def plot_curves(history: list[dict], metrics: list[str], *, title: str, output: Path) -> Path | None:
    """Draw ``metrics`` from ``history`` against ``step``; None when no record holds any of them."""
    series = {m: [(r["step"], r[m]) for r in history if isinstance(r.get(m), (int, float)) and "step" in r]
              for m in metrics}
    series = {m: points for m, points in series.items() if points}
    if not series:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 3.6), dpi=110)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    for name, points in series.items():
        steps, values = zip(*points)
        axes.plot(steps, values, label=name.replace("_", " "))
    axes.set_xlabel("step")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(output, format="png")
    return output
