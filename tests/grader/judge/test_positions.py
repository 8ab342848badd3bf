"""The reversal task's chance band (an exact two-sided binomial acceptance region) and the curve metric
the judge writes into the results."""

import pytest

from grader.judge.positions import band, chance_band, curve_metric
from grader.judge.stats import binomial_sf


def test_chance_band_is_the_exact_two_sided_acceptance_region():
    assert (chance_band(20, 0.5, 0.05).low, chance_band(20, 0.5, 0.05).high) == (6, 14)  # the textbook region
    b = chance_band(4096, 1 / 16, 1e-3 / 7)  # the reversal task's: alpha 0.001 over 7 positions
    assert (b.low, b.high) == (199, 317) and b.contains(256) and not b.contains(318) and not b.contains(198)
    assert binomial_sf(b.high, 4096, 1 / 16) > b.alpha / 2 >= binomial_sf(b.high + 1, 4096, 1 / 16)
    assert 1 - binomial_sf(b.low + 1, 4096, 1 / 16) > b.alpha / 2 >= 1 - binomial_sf(b.low, 4096, 1 / 16)  # P[X <= k]
    with pytest.raises(ValueError):
        chance_band(0, 0.5, 0.05)


def test_curve_metric_layout():
    metric = curve_metric(title="t", labels=["a", "b"], values=[0.123456, 1], bands=[band(0, 1, 0.1, 0.2, "x")])
    assert metric == {"kind": "curve", "title": "t", "x_label": "position", "y_label": "accuracy",
                      "labels": ["a", "b"], "values": [0.1235, 1.0],
                      "bands": [{"start": 0, "stop": 1, "low": 0.1, "high": 0.2, "label": "x"}]}
    with pytest.raises(ValueError):
        curve_metric(title="t", labels=["a"], values=[0.1, 0.2], bands=[])
