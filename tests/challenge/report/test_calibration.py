"""Brier score and the plain-words calibration, against hand-computed values."""

import pytest

from challenge.report.calibration import brier_score, confidence_bias, describe_confidence, describe_hours


def test_brier_score_by_hand():
    # (0.8-0)^2 + (0.5-1)^2 + (0.9-1)^2 = 0.64 + 0.25 + 0.01 = 0.90; / 3 = 0.30
    assert brier_score([(0.8, False), (0.5, True), (0.9, True)]) == pytest.approx(0.30)
    assert brier_score([(1.0, True), (0.0, False)]) == 0.0
    assert brier_score([(0.5, True), (0.5, False)]) == pytest.approx(0.25)
    assert brier_score([]) is None


def test_confidence_bias_and_words():
    pairs = [(0.9, False), (0.8, False), (0.7, True)]
    mean, rate = confidence_bias(pairs)
    assert mean == pytest.approx(0.8) and rate == pytest.approx(1 / 3)
    assert describe_confidence(pairs).startswith("You were overconfident: you gave 80% on average and passed 33%")
    assert "treat this as a hint" in describe_confidence(pairs)
    assert describe_confidence([(0.2, True)] * 5).startswith("You were underconfident")
    assert describe_confidence([(0.6, True), (0.6, True), (0.6, False), (0.5, False), (0.6, True)]).startswith(
        "Your confidence was about right")
    assert "No pass predictions" in describe_confidence([])


def test_hours_words():
    assert describe_hours([("a", 2.0, 3.0)]).startswith("You underestimated the time: you predicted 2.0 h")
    assert "(1.50x)" in describe_hours([("a", 2.0, 3.0)])
    assert describe_hours([("a", 2.0, 1.0)]).startswith("You overestimated")
    assert describe_hours([("a", 2.0, 2.2), ("b", 1.0, 1.0)]).startswith("Your time estimates were about right")
    assert describe_hours([]).startswith("No finished milestone")
