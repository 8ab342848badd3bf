"""Shared building blocks for hidden tests: random shapes, masks, dtypes,
reference modules with copied weights. Pure judge-side code."""

from __future__ import annotations

import torch
import torch.nn as nn

from grader.judge.compare import F32, F64

DTYPES = {"float64": (torch.float64, F64), "float32": (torch.float32, F32)}


def randint(rng: torch.Generator, low: int, high: int) -> int:
    """An integer in [low, high], inclusive."""
    return int(torch.randint(low, high + 1, (1,), generator=rng))


def distinct_sizes(rng: torch.Generator, count: int, low: int, high: int) -> list[int]:
    """Sizes that differ from each other, so swapped axes cannot hide."""
    chosen: list[int] = []
    while len(chosen) < count:
        value = randint(rng, low, high)
        if value not in chosen:
            chosen.append(value)
    return chosen


def randn(rng: torch.Generator, *shape: int, dtype=torch.float64, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=rng, dtype=torch.float64).mul(scale).to(dtype)


def causal_mask(t: int) -> torch.Tensor:
    """True = may attend: position i sees 0..i."""
    return torch.ones(t, t, dtype=torch.bool).tril()


def random_mask(rng: torch.Generator, *shape: int, keep: float = 0.6) -> torch.Tensor:
    return torch.rand(*shape, generator=rng) < keep


def padding_mask(rng: torch.Generator, batch: int, t: int, *, allow_empty: bool = False) -> torch.Tensor:
    """(B, T) True = padding; each row keeps a random prefix. Row 0 is full, row 1 is partly padded
    (so padding is always tested), and with allow_empty the last row is all padding."""
    lengths = [randint(rng, 0 if allow_empty else 1, t) for _ in range(batch)]
    lengths[0] = t
    if batch > 1 and t > 1:
        lengths[1] = randint(rng, 1, t - 1)
    if allow_empty and batch > 2:
        lengths[-1] = 0
    return torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]


def init_nontrivial(module: nn.Module, rng: torch.Generator) -> nn.Module:
    """Random weights everywhere, biases and LayerNorm affine included (defaults hide bugs)."""
    with torch.no_grad():
        for name, param in module.named_parameters():
            param.copy_(torch.randn(param.shape, generator=rng, dtype=torch.float64).to(param.dtype) * 0.3
                        + (1.0 if name.endswith("norm1.weight") or name.endswith("norm2.weight") else 0.0))
    return module


def zero_biases(module: nn.Module) -> nn.Module:
    with torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith("bias"):
                param.zero_()
    return module


def bigram_model(learner, table: torch.Tensor):
    """The table (V, V) as a language model in the worker: model(ids) (B, T) -> logits (B, T, V)."""
    v = table.shape[0]
    module = nn.Embedding(v, v, dtype=torch.float64)
    with torch.no_grad():
        module.weight.copy_(table)
    return learner.reference_module(module, "Embedding", {"num_embeddings": v, "embedding_dim": v}, torch.float64)


def separated_table(rng: torch.Generator, v: int, scale: float = 2.0) -> torch.Tensor:
    """A bigram table whose rows have a clear argmax (no ties for greedy decoding)."""
    while True:
        table = torch.randn(v, v, generator=rng, dtype=torch.float64) * scale
        top = table.topk(2, dim=-1).values
        if float((top[:, 0] - top[:, 1]).min()) > 1e-3:
            return table
