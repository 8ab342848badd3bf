"""How the judge cuts held-out data for the language-model milestones.

These decide what the learner's model is scored on, so they live with the
judge (and are fingerprinted with it), not with the data pipelines.
"""

from __future__ import annotations

import torch


def windows(tokens: torch.Tensor, block_size: int, *, max_windows: int | None = None) -> torch.Tensor:
    """(N, block_size + 1) int64 windows with stride block_size, so that every token
    after the first is predicted exactly once: inputs ``w[:, :-1]``, targets ``w[:, 1:]``."""
    n = (len(tokens) - 1) // block_size
    if max_windows is not None:
        n = min(n, max_windows)
    starts = torch.arange(n) * block_size
    return tokens.long()[starts[:, None] + torch.arange(block_size + 1)]


def mask_for_evaluation(ids: torch.Tensor, spec: dict, *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's BERT corruption of ``ids`` (N, T) with a fixed seed.

    Returns ``(inputs, labels)``, both int64 (N, T): labels hold the original id at
    the picked positions and -100 elsewhere. Only ``inputs`` go to the worker.
    """
    ids = ids.long()
    generator = torch.Generator().manual_seed(seed)
    special = torch.tensor(spec["special_ids"])
    eligible = ~torch.isin(ids, special)
    picked = eligible & (torch.rand(ids.shape, generator=generator) < spec["mask_prob"])
    action = torch.rand(ids.shape, generator=generator)
    regular = torch.tensor([i for i in range(spec["vocab_size"]) if i not in set(spec["special_ids"])])
    random_ids = regular[torch.randint(len(regular), ids.shape, generator=generator)]
    inputs = torch.where(picked & (action < 0.8), spec["mask_id"], ids)
    inputs = torch.where(picked & (action >= 0.8) & (action < 0.9), random_ids, inputs)
    labels = torch.where(picked, ids, -100)
    return inputs, labels
