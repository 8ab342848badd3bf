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


def describe_confidence(pairs: Sequence[tuple[float, bool]], rules: Rules = RULES, *, third_person: bool = False
                        ) -> str:
    """The bias of stated chances in words; ``third_person``: about the learner (an employer's view)."""
    bias = confidence_bias(pairs)
    if bias is None:
        if third_person:
            return "No pass predictions to judge."
        return "No pass predictions to judge yet (`challenge start --predict-pass`, `challenge test --confidence`)."
    mean, rate = bias
    n = len(pairs)
    who = "the learner" if third_person else "you"
    plural = "s" if n != 1 else ""
    facts = f"{who} gave {mean:.0%} on average and passed {rate:.0%} of the time ({n} prediction{plural})"
    subject, possessive = ("The learner was", "The learner's") if third_person else ("You were", "Your")
    if mean - rate > rules.calibration_tolerance:
        words = f"{subject} overconfident: {facts}."
    elif rate - mean > rules.calibration_tolerance:
        words = f"{subject} underconfident: {facts}."
    else:
        words = f"{possessive} confidence was about right: {facts}."
    if n < rules.few_predictions:
        words += " Few predictions, so treat this as a hint."
    return words


def describe_hours(pairs: Sequence[tuple[str, float, float]], rules: Rules = RULES, *, third_person: bool = False
                   ) -> str:
    """``pairs``: (milestone, predicted hours, actual hours) for finished milestones."""
    if not pairs:
        return "No finished milestone with an hours prediction yet."
    predicted = sum(p for _, p, _ in pairs)
    actual = sum(a for _, _, a in pairs)
    if predicted <= 0:
        return "The hour predictions add up to zero; nothing to compare."
    ratio = actual / predicted
    who = "the learner" if third_person else "you"
    facts = (f"{who} predicted {predicted:.1f} h for {len(pairs)} finished milestone{'s' if len(pairs) != 1 else ''} "
             f"and took {actual:.1f} h ({ratio:.2f}x)")
    subject, possessive = ("The learner", "The learner's") if third_person else ("You", "Your")
    if ratio > rules.hours_tolerance:
        words = f"{subject} underestimated the time: {facts}."
    elif ratio < 1 / rules.hours_tolerance:
        words = f"{subject} overestimated the time: {facts}."
    else:
        words = f"{possessive} time estimates were about right: {facts}."
    if len(pairs) < rules.few_predictions:
        words += " Few milestones, so treat this as a hint."
    return words
