"""Predictions against outcomes: the Brier score of pass predictions, the bias
of stated chances, and predicted against actual hours, each said in plain words."""

from __future__ import annotations

from collections.abc import Sequence

from challenge.report.verdict import RULES, Rules


def brier_score(pairs: Sequence[tuple[float, bool]]) -> float | None:
    """Mean of (stated probability - outcome)^2; None without predictions."""
    if not pairs:
        return None
    return sum((p - (1.0 if passed else 0.0)) ** 2 for p, passed in pairs) / len(pairs)


def confidence_bias(pairs: Sequence[tuple[float, bool]]) -> tuple[float, float] | None:
    """(mean stated chance, observed pass rate); None without predictions."""
    if not pairs:
        return None
    mean = sum(p for p, _ in pairs) / len(pairs)
    rate = sum(1 for _, passed in pairs if passed) / len(pairs)
    return mean, rate


def describe_confidence(pairs: Sequence[tuple[float, bool]], rules: Rules = RULES) -> str:
    bias = confidence_bias(pairs)
    if bias is None:
        return "No pass predictions to judge yet (`challenge start --predict-pass`, `challenge test --confidence`)."
    mean, rate = bias
    n = len(pairs)
    facts = f"you gave {mean:.0%} on average and passed {rate:.0%} of the time ({n} prediction{'s' if n != 1 else ''})"
    if mean - rate > rules.calibration_tolerance:
        words = f"You were overconfident: {facts}."
    elif rate - mean > rules.calibration_tolerance:
        words = f"You were underconfident: {facts}."
    else:
        words = f"Your confidence was about right: {facts}."
    if n < rules.few_predictions:
        words += " Few predictions, so treat this as a hint."
    return words


def describe_hours(pairs: Sequence[tuple[str, float, float]], rules: Rules = RULES) -> str:
    """``pairs``: (milestone, predicted hours, actual hours) for finished milestones."""
    if not pairs:
        return "No finished milestone with an hours prediction yet."
    predicted = sum(p for _, p, _ in pairs)
    actual = sum(a for _, _, a in pairs)
    if predicted <= 0:
        return "The hour predictions add up to zero; nothing to compare."
    ratio = actual / predicted
    facts = (f"you predicted {predicted:.1f} h for {len(pairs)} finished milestone{'s' if len(pairs) != 1 else ''} "
             f"and took {actual:.1f} h ({ratio:.2f}x)")
    if ratio > rules.hours_tolerance:
        words = f"You underestimated the time: {facts}."
    elif ratio < 1 / rules.hours_tolerance:
        words = f"You overestimated the time: {facts}."
    else:
        words = f"Your time estimates were about right: {facts}."
    if len(pairs) < rules.few_predictions:
        words += " Few milestones, so treat this as a hint."
    return words
