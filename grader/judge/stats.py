"""Statistics for grading the training milestones: exact binomial tail, bootstrap
confidence intervals and the baselines a trained model must beat.

Pure functions over numbers and tensors; torch and the stdlib only (no scipy).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

IGNORE_INDEX = -100  # the label of "not a target", as in F.cross_entropy


def binomial_sf(k: int, n: int, p: float) -> float:
    """P[X >= k] for X ~ Binomial(n, p), exactly: the terms are summed in log space
    so that n in the thousands neither overflows nor underflows to a wrong 0."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    log_terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k, n + 1)
    ]
    top = max(log_terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in log_terms))


def binomial_cutoff(n: int, p: float, alpha: float) -> int:
    """The smallest k with P[X >= k] <= alpha: how many successes out of n pass the test."""
    # The tail only grows as k falls: walk down from k = n while it stays <= alpha.
    k = n + 1
    while k > 0 and binomial_sf(k - 1, n, p) <= alpha:
        k -= 1
    return k


def majority_rate(labels: Iterable[int] | torch.Tensor) -> float:
    """Share of the most common label: the accuracy of always guessing it."""
    values = labels.tolist() if isinstance(labels, torch.Tensor) else list(labels)
    if not values:
        raise ValueError("majority_rate of no labels")
    return Counter(values).most_common(1)[0][1] / len(values)


def bootstrap_mean_ci(
    values: Sequence[float] | torch.Tensor, *, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap (1 - alpha) confidence interval of the mean of ``values``.

    Resamples are drawn in chunks so that 10^5 values x 2000 resamples fit in memory.
    When values are correlated (the tokens of one window), pass per-window means."""
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if len(x) == 0:
        raise ValueError("bootstrap of no values")
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, 4_000_000 // len(x))
    means = []
    for start in range(0, n_boot, chunk):
        rows = min(chunk, n_boot - start)
        index = torch.randint(len(x), (rows, len(x)), generator=generator)
        means.append(x[index].mean(1))
    means = torch.cat(means)
    low, high = torch.quantile(means, torch.tensor([alpha / 2, 1 - alpha / 2], dtype=torch.float64))
    return float(low), float(high)


def bootstrap_paired_diff_ci(
    learner: Sequence[float] | torch.Tensor,
    baseline: Sequence[float] | torch.Tensor,
    *,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> tuple[float, float]:
    """Confidence interval of mean(learner - baseline) over the same examples, resampled
    in pairs: a per-token loss margin that keeps the examples' difficulty matched."""
    a = torch.as_tensor(learner, dtype=torch.float64).flatten()
    b = torch.as_tensor(baseline, dtype=torch.float64).flatten()
    if a.shape != b.shape:
        raise ValueError(f"paired values differ in length: {len(a)} vs {len(b)}")
    return bootstrap_mean_ci(a - b, n_boot=n_boot, alpha=alpha, seed=seed)


def unigram_token_losses(
    train_ids: torch.Tensor,
    test_targets: torch.Tensor,
    vocab_size: int,
    *,
    ignore: Sequence[int] = (),
    smoothing: float = 1.0,
) -> torch.Tensor:
    """Per-target NLL (nats) of a unigram model fit on ``train_ids``: how well word
    frequencies alone predict. Add-``smoothing`` counts over the ids that are not ignored.

    Ids in ``ignore`` and IGNORE_INDEX (-100) are neither counted nor scored; the
    result has one loss per remaining target, in order (for a paired bootstrap)."""
    ignored = torch.tensor([IGNORE_INDEX, *ignore], dtype=torch.long)
    train = train_ids.long().flatten()
    train = train[~torch.isin(train, ignored)]
    targets = test_targets.long().flatten()
    targets = targets[~torch.isin(targets, ignored)]
    counts = torch.bincount(train, minlength=vocab_size).to(torch.float64) + smoothing
    counts[[i for i in set(ignore) if 0 <= i < vocab_size]] = 0.0  # ignored ids get no mass
    log_probs = counts.log() - counts.sum().log()
    return -log_probs[targets]


def unigram_loss(
    train_ids: torch.Tensor,
    test_targets: torch.Tensor,
    vocab_size: int,
    *,
    ignore: Sequence[int] = (),
    smoothing: float = 1.0,
) -> float:
    """Mean per-token NLL of the unigram baseline (see unigram_token_losses)."""
    return float(
        unigram_token_losses(train_ids, test_targets, vocab_size, ignore=ignore, smoothing=smoothing).mean()
    )
