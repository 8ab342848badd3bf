"""The report's plots as PNG bytes (matplotlib, no display, imported only here).

Three plots: time per milestone against its target band; predicted against
actual hours; test attempts over time, passed or failed. Each is ``None`` when
there is nothing to draw. Then one per judged curve of a milestone's latest
test (e.g. accuracy per position), its allowed bands shaded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from challenge.report.model import Report
from challenge.report.verdict import RULES

PASS_COLOR, FAIL_COLOR, BAND_COLOR, BAR_COLOR = "#2e7d32", "#c62828", "#90caf9", "#37474f"


@dataclass(frozen=True)
class Plot:
    key: str  # file-name friendly: time, predictions, attempts
    title: str
    png: bytes


def make_plots(report: Report) -> list[Plot]:
    plots = []
    for key, title, draw in (("time", "Time per milestone against its target band", _time),
                             ("predictions", "Predicted against actual hours", _predictions),
                             ("attempts", "Test attempts over time", _attempts)):
        png = draw(report)
        if png is not None:
            plots.append(Plot(key, title, png))
    for m in report.milestones:
        for index, curve in enumerate(m.curves):
            title = _safe(f"{m.id}: {curve.title}").replace("[", "(").replace("]", ")")
            plots.append(Plot(f"curve-{m.id}-{index + 1}", title, _curve(curve, title)))
    return plots


def _safe(text: str) -> str:
    """Untrusted text for matplotlib: no control characters, and no '$' (it would start mathtext)."""
    from challenge.output import plain

    return plain(text, limit=200).replace("$", r"\$")


def _curve(curve, title: str) -> bytes:
    from challenge.report.curves import verdict

    figure, ax = _figure(max(6.0, 0.32 * len(curve.values) + 2), 3.8)
    x = list(range(len(curve.values)))
    colors = [{"ok": PASS_COLOR, "outside": FAIL_COLOR}.get(verdict(curve, i), BAR_COLOR) for i in x]
    ax.bar(x, curve.values, color=colors, width=0.7, zorder=2)
    for band, shade in zip(curve.bands, ("#fff59d", "#a5d6a7", "#90caf9", "#ce93d8")):
        ax.fill_between([band.start - 0.45, band.stop - 0.55], band.low, band.high, color=shade, alpha=0.7,
                        zorder=1, label=_safe(band.label))
    ax.set_xticks(x, [_safe(label) for label in curve.labels], rotation=90 if len(x) > 24 else 0, fontsize=8)
    ax.set_ylim(0, max(1.05, max(curve.values) * 1.05))
    ax.set_xlabel(_safe(curve.x_label))
    ax.set_ylabel(_safe(curve.y_label))
    ax.set_title(title, fontsize=10)
    if curve.bands:
        ax.legend(loc="upper left", fontsize="small")
    return _png(figure)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # no pyplot: no global state, no display backend

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.subplots()


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _time(report: Report) -> bytes | None:
    items = report.milestones
    if not items:
        return None
    figure, ax = _figure(7, 0.6 * len(items) + 1.4)
    for row, m in enumerate(items):
        ax.barh(row, m.target.high - m.target.low, left=m.target.low, height=0.7, color=BAND_COLOR,
                label="target band" if row == 0 else None)
        ax.plot([m.target.high * RULES.roughly_on_time_factor] * 2, [row - 0.35, row + 0.35], color="#1565c0",
                linestyle=":", label=f"{RULES.roughly_on_time_factor:g}x high end" if row == 0 else None)
        ax.barh(row, m.time.total_h, height=0.3, color=PASS_COLOR if m.status == "passed" else BAR_COLOR,
                label=None)
    ax.set_yticks(range(len(items)), [m.id for m in items])
    ax.invert_yaxis()
    ax.set_xlabel("hours (active + self-reported; grey bars are still in progress)")
    ax.legend(loc="best", fontsize="small")
    ax.set_title("Time per milestone")
    return _png(figure)


def _predictions(report: Report) -> bytes | None:
    items = report.calibration.hours
    if not items:
        return None
    figure, ax = _figure(5, 4.4)
    top = max(max(h.predicted, h.actual) for h in items) * 1.25 or 1.0
    ax.plot([0, top], [0, top], color="#9e9e9e", linestyle="--", label="as predicted")
    for h in items:
        ax.scatter([h.predicted], [h.actual], color=PASS_COLOR if h.final else BAR_COLOR, zorder=3,
                   marker="o" if h.final else "^")
        ax.annotate(h.milestone, (h.predicted, h.actual), textcoords="offset points", xytext=(5, 4), fontsize=8)
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel("predicted hours")
    ax.set_ylabel("actual hours (triangles: so far)")
    ax.set_title("Predicted vs actual hours")
    ax.legend(loc="upper left", fontsize="small")
    return _png(figure)


def _attempts(report: Report) -> bytes | None:
    points = [(a.ts, a.passed / a.total if a.total else 0.0, a.status == "pass", m.id)
              for m in report.milestones for a in m.attempts]
    if not points:
        return None
    start = min(ts for ts, *_ in points)
    figure, ax = _figure(7, 3.6)
    for passed, color, label in ((True, PASS_COLOR, "passed"), (False, FAIL_COLOR, "failed")):
        chosen = [p for p in points if p[2] is passed]
        if chosen:
            ax.scatter([(p[0] - start) / 3600 for p in chosen], [p[1] for p in chosen], color=color, label=label,
                       marker="o" if passed else "x", zorder=3)
    for ts, fraction, _, milestone in points:
        ax.annotate(milestone, ((ts - start) / 3600, fraction), textcoords="offset points", xytext=(3, 5),
                    fontsize=7)
    ax.set_ylim(-0.05, 1.12)
    ax.margins(x=0.08)
    ax.set_xlabel("hours since the first attempt (clock time)")
    ax.set_ylabel("share of tests passed")
    ax.set_title("Attempts over time")
    ax.legend(loc="best", fontsize="small")
    return _png(figure)
