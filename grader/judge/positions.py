"""Accuracy per position of a sequence model, judged against chance, and the
curve the results carry for the terminal and the report.

A curve is a plain-JSON metric value (``curve_metric``); the harness's report
reads it back as untrusted data (``challenge.report.curves``)::

    {"kind": "curve", "title": str, "x_label": str, "y_label": str,
     "labels": [str, ...], "values": [float, ...],
     "bands": [{"start": int, "stop": int, "low": float, "high": float, "label": str}, ...]}

Point ``i`` is judged by the band whose ``start <= i < stop`` (inside when
``low <= value <= high``); points outside every band are shown, not judged.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

CURVE_KIND = "curve"


@dataclass(frozen=True)
class ChanceBand:
    """Hit counts out of ``trials`` that a two-sided exact binomial test at level ``alpha`` does not reject
    for the success rate ``p``: ``low <= hits <= high``."""

    trials: int
    p: float
    alpha: float
    low: int
    high: int

    def contains(self, hits: int) -> bool:
        return self.low <= hits <= self.high

    @property
    def low_rate(self) -> float:
        return self.low / self.trials

    @property
    def high_rate(self) -> float:
        return self.high / self.trials


def chance_band(trials: int, p: float, alpha: float) -> ChanceBand:
    """The acceptance region of Binomial(trials, p) with ``alpha / 2`` in each tail: ``low`` is the smallest
    count with P[X <= low] > alpha / 2, ``high`` the largest with P[X >= high] > alpha / 2 (exact)."""
    if trials < 1 or not 0 < p < 1 or not 0 < alpha < 1:
        raise ValueError(f"chance_band needs trials >= 1, 0 < p < 1 and 0 < alpha < 1 (got {trials}, {p}, {alpha})")
    log_p, log_q = math.log(p), math.log1p(-p)
    pmf = [math.exp(math.lgamma(trials + 1) - math.lgamma(k + 1) - math.lgamma(trials - k + 1) + k * log_p
                    + (trials - k) * log_q) for k in range(trials + 1)]
    at_most = list(itertools.accumulate(pmf))  # P[X <= k], summed from the small end of the tail
    at_least = list(itertools.accumulate(reversed(pmf)))[::-1]  # P[X >= k], likewise
    low = next(k for k in range(trials + 1) if at_most[k] > alpha / 2)
    high = next(k for k in range(trials, -1, -1) if at_least[k] > alpha / 2)
    return ChanceBand(trials, p, alpha, low, high)


def curve_metric(*, title: str, labels: list[str], values: list[float], bands: list[dict],
                 x_label: str = "position", y_label: str = "accuracy") -> dict:
    """A curve as a results metric (see the module docstring)."""
    if len(labels) != len(values):
        raise ValueError("a curve needs one label per value")
    return {"kind": CURVE_KIND, "title": title, "x_label": x_label, "y_label": y_label, "labels": list(labels),
            "values": [round(float(v), 4) for v in values], "bands": bands}


def band(start: int, stop: int, low: float, high: float, label: str) -> dict:
    return {"start": int(start), "stop": int(stop), "low": round(float(low), 4), "high": round(float(high), 4),
            "label": label}
