"""grader.judge.stats against hand-computed and exact values."""

import math
from fractions import Fraction

import pytest
import torch

from grader.judge import stats


def exact_sf(k: int, n: int, p: Fraction) -> float:
    """P[X >= k] with exact rational arithmetic: slow, but beyond doubt."""
    return float(sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


@pytest.mark.parametrize(
    "k, n, p, expected",
    [
        (8, 10, 0.5, 56 / 1024),  # C(10,8) + C(10,9) + C(10,10) = 45 + 10 + 1
        (0, 10, 0.5, 1.0),
        (11, 10, 0.5, 0.0),
        (1, 3, 0.25, 1 - 0.75**3),
        (3, 3, 0.25, 0.25**3),
        (2, 2, 0.0, 0.0),
        (2, 2, 1.0, 1.0),
    ],
)
def test_binomial_sf_small_cases_by_hand(k, n, p, expected):
    assert stats.binomial_sf(k, n, p) == pytest.approx(expected, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("k", [533, 560, 585, 611, 700, 1000])
def test_binomial_sf_large_n_matches_exact_rationals(k):
    assert stats.binomial_sf(k, 1066, 0.5) == pytest.approx(exact_sf(k, 1066, Fraction(1, 2)), rel=1e-9)


def test_binomial_sf_tiny_tail_is_not_rounded_to_zero():
    value = stats.binomial_sf(900, 1066, 0.5)
    assert 0 < value < 1e-100
    assert value == pytest.approx(exact_sf(900, 1066, Fraction(1, 2)), rel=1e-9)


def test_binomial_cutoffs_match_the_reference_table():
    # curricula-and-recipes.md §3: 57.3% of 1066 at alpha=1e-6, 31.8% of 1000 at chance 0.25
    k = stats.binomial_cutoff(1066, 0.5, 1e-6)
    assert stats.binomial_sf(k, 1066, 0.5) <= 1e-6 < stats.binomial_sf(k - 1, 1066, 0.5)
    assert round(100 * k / 1066, 1) == 57.3
    assert round(100 * stats.binomial_cutoff(1000, 0.25, 1e-6) / 1000, 1) == 31.8
    assert round(100 * stats.binomial_cutoff(200, 0.5, 1e-3) / 200, 1) == 61.5


def test_binomial_sf_rejects_bad_p():
    with pytest.raises(ValueError):
        stats.binomial_sf(1, 2, 1.5)


def test_majority_rate():
    assert stats.majority_rate([0, 1, 1, 2]) == 0.5
    assert stats.majority_rate(torch.tensor([3, 3, 3])) == 1.0
    with pytest.raises(ValueError):
        stats.majority_rate([])


def test_bootstrap_ci_of_constant_values_is_the_constant():
    assert stats.bootstrap_mean_ci([2.5] * 50) == (2.5, 2.5)


def test_bootstrap_ci_covers_the_mean_with_the_textbook_width():
    values = torch.randn(4000, generator=torch.Generator().manual_seed(1), dtype=torch.float64) + 3.0
    low, high = stats.bootstrap_mean_ci(values, n_boot=2000, seed=0)
    mean, se = float(values.mean()), float(values.std() / math.sqrt(len(values)))
    assert low < mean < high
    assert (high - low) == pytest.approx(2 * 1.96 * se, rel=0.1)  # normal approximation


def test_bootstrap_ci_is_deterministic_given_the_seed():
    values = [0.1, 0.5, 0.9, 1.3, 2.0, 0.0]
    assert stats.bootstrap_mean_ci(values, seed=3) == stats.bootstrap_mean_ci(values, seed=3)
    assert stats.bootstrap_mean_ci(values, seed=3) != stats.bootstrap_mean_ci(values, seed=4)


def test_paired_bootstrap_sees_a_constant_shift_exactly():
    baseline = torch.rand(500, generator=torch.Generator().manual_seed(0)) * 10  # widely spread losses
    learner = baseline - 0.7  # yet always exactly 0.7 better
    low, high = stats.bootstrap_paired_diff_ci(learner, baseline)
    assert low == pytest.approx(-0.7) and high == pytest.approx(-0.7)
    unpaired_low, unpaired_high = stats.bootstrap_mean_ci(learner)
    assert unpaired_high - unpaired_low > 0.5  # what pairing saves us from


def test_paired_bootstrap_requires_equal_lengths():
    with pytest.raises(ValueError):
        stats.bootstrap_paired_diff_ci([1.0, 2.0], [1.0])


def test_unigram_loss_by_hand():
    # train counts over V=4: id0 x3, id1 x1, id2 x0, id3 x0; add-one -> 4, 2, 1, 1 of 8
    train = torch.tensor([0, 0, 0, 1])
    targets = torch.tensor([0, 1, 2])
    expected = -(math.log(4 / 8) + math.log(2 / 8) + math.log(1 / 8)) / 3
    assert stats.unigram_loss(train, targets, 4) == pytest.approx(expected)


def test_unigram_loss_ignores_ids_and_minus_100():
    # id 3 is "special": not counted in train, not scored, and given no probability mass
    train = torch.tensor([[0, 0, 3], [3, 1, 3]])
    targets = torch.tensor([[0, -100, 3], [1, -100, -100]])
    expected = -(math.log(3 / 6) + math.log(2 / 6)) / 2  # counts 2+1, 1+1, 0+1 over ids 0, 1, 2
    assert stats.unigram_loss(train, targets, 4, ignore=[3]) == pytest.approx(expected)
    losses = stats.unigram_token_losses(train, targets, 4, ignore=[3])
    assert losses.shape == (2,) and losses.dtype == torch.float64


def test_unigram_loss_smoothing_can_be_small():
    train, targets = torch.tensor([0, 0, 1, 1]), torch.tensor([0])
    assert stats.unigram_loss(train, targets, 3, smoothing=1e-9) == pytest.approx(math.log(2), rel=1e-6)
