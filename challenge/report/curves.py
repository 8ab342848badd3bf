"""Judged curves in results documents (e.g. a GPT's accuracy per position):
read back from untrusted JSON, drawn as bars in the terminal, plotted in the
HTML report.

The judge writes a curve as a metric value (``grader.judge.positions``)::

    {"kind": "curve", "title": str, "x_label": str, "y_label": str,
     "labels": [str, ...], "values": [float, ...],
     "bands": [{"start": int, "stop": int, "low": float, "high": float, "label": str}, ...]}

A point is judged by the band that covers it (inside when low <= value <= high).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from challenge.output import untrusted
from challenge.report.model import Curve, CurveBand

MAX_POINTS = 256
BAR_WIDTH = 40
Text = Annotated[str, Field(max_length=200)]
Label = Annotated[str, Field(max_length=24)]


class _Band(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    start: Annotated[int, Field(ge=0, le=MAX_POINTS)]
    stop: Annotated[int, Field(ge=0, le=MAX_POINTS)]
    low: float
    high: float
    label: Text = ""


class _Curve(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    kind: Literal["curve"]
    title: Text = ""
    x_label: Text = ""
    y_label: Text = ""
    labels: Annotated[list[Label], Field(max_length=MAX_POINTS)]
    values: Annotated[list[float], Field(min_length=1, max_length=MAX_POINTS)]
    bands: Annotated[list[_Band], Field(max_length=16)] = []


def parse_curve(metric: str, value: Any) -> Curve | None:
    """The curve in a metric value, or None when it is not one (or not a well-formed one)."""
    if not (isinstance(value, dict) and value.get("kind") == "curve"):
        return None
    try:
        raw = _Curve.model_validate(value)
    except ValidationError:
        return None
    if len(raw.labels) != len(raw.values) or not all(math.isfinite(v) for v in raw.values):
        return None
    bands = [CurveBand(b.start, b.stop, b.low, b.high, b.label) for b in raw.bands
             if b.start < b.stop <= len(raw.values) and math.isfinite(b.low) and math.isfinite(b.high)]
    return Curve(metric=str(metric)[:200], title=raw.title, x_label=raw.x_label, y_label=raw.y_label,
                 labels=list(raw.labels), values=list(raw.values), bands=bands)


def curves_in(document: Mapping[str, Any] | None) -> list[Curve]:
    """Every curve among a results document's metrics."""
    metrics = document.get("metrics") if isinstance(document, Mapping) else None
    if not isinstance(metrics, Mapping):
        return []
    return [curve for key, value in metrics.items() if (curve := parse_curve(key, value)) is not None]


def band_of(curve: Curve, index: int) -> CurveBand | None:
    return next((b for b in curve.bands if b.start <= index < b.stop), None)


def verdict(curve: Curve, index: int) -> str:
    """'ok', 'outside' or '' (not judged) for one point."""
    judged = band_of(curve, index)
    if judged is None:
        return ""
    return "ok" if judged.low <= curve.values[index] <= judged.high else "outside"


def terminal_lines(curve: Curve) -> list[str]:
    """Rich-markup lines: one bar per point, the band it must fall in, green inside and red outside."""
    top = max([1.0, *curve.values]) or 1.0
    lines = [f"[bold]{untrusted(curve.title)}[/bold]"]
    width = max((len(label) for label in curve.labels), default=1)
    for index, (label, value) in enumerate(zip(curve.labels, curve.values)):
        judged, state = band_of(curve, index), verdict(curve, index)
        color = {"ok": "green", "outside": "red"}.get(state, "dim")
        bar = "█" * round(BAR_WIDTH * max(0.0, value) / top)
        allowed = f"{judged.low:.1%}-{judged.high:.1%}" if judged else "not judged"
        lines.append(f"  {untrusted(label):>{width}} [{color}]{value:6.1%} {bar:<{BAR_WIDTH}}[/{color}] "
                     f"[dim]{allowed}[/dim]")
    for judged in curve.bands:
        lines.append(f"  [dim]{untrusted(curve.labels[judged.start])}..{untrusted(curve.labels[judged.stop - 1])}: "
                     f"{untrusted(judged.label)}[/dim]")
    return lines


def sparkline(curve: Curve) -> str:
    """The curve in one line of block characters, scaled to [0, 1] (or its maximum)."""
    blocks = " ▁▂▃▄▅▆▇█"
    top = max([1.0, *curve.values]) or 1.0
    return "".join(blocks[min(8, max(0, round(8 * v / top)))] for v in curve.values)


def outside_count(curve: Curve) -> int:
    return sum(1 for index in range(len(curve.values)) if verdict(curve, index) == "outside")
