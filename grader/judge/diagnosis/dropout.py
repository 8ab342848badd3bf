"""Where dropout acts in train mode, measured: weights and inputs that make each dropped
value visible in the output, the statistics read off it, and what PyTorch's
semantics (and each known dropout mistake) predict for them.

- Multi-head attention: W_q = W_k = 0 (every score 0, weights 1/T), W_v = W_o = I
  and one-hot tokens, so that output channel j of a head is query i's weight on
  key j (times 1/T); one more channel holds every token, so it is the sum of the
  weights. PyTorch drops each weight with probability p and scales the kept
  ones by 1/(1-p): a fraction p of the channels is 0, the mean is 1 (in units
  of 1/T), and the sum channel is the sum of the others.
- The block, attention path: W_v = 0 with a value bias c, so attention gives c
  times the kept fraction of weights, and dropout1 drops elementwise after it.
- The block, feed-forward path: linear1 = 0 with bias c (every hidden unit c),
  linear2 sums two hidden units into each output; dropout acts after the
  activation and on the output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from grader.judge.diagnosis.attention_model import MhaWeights, dropout_site
from grader.judge.diagnosis.block_model import BlockWeights, dropout_sites
from grader.judge.diagnosis.engine import Failed

F64 = torch.float64
ZERO = 1e-12


@dataclass(frozen=True)
class DropStats:
    """What train mode did to values whose dropout-free level is 1 (``mean``: 1 when kept values are scaled)."""

    zero: float  # fraction of the values that are exactly 0
    mean: float  # their mean
    n: int = 0  # how many values (observed), 0 for a prediction
    sums_agree: bool = True  # multi-head attention: the sum channel is the sum of the weight channels

    def describe(self) -> str:
        said = f"{100 * self.zero:.1f}% of the values dropped, mean {self.mean:.3f}"
        return said if self.sums_agree else said + ", and dropped independently of the weights they sum"


def same_stats(observed, predicted) -> bool:
    """Observed statistics within 5 standard errors (plus a small floor) of the prediction."""
    if not isinstance(observed, DropStats) or not isinstance(predicted, DropStats):
        return not isinstance(observed, Failed) and observed == predicted
    n = max(observed.n, 1)
    zero_ok = abs(observed.zero - predicted.zero) <= 5 * math.sqrt(predicted.zero * (1 - predicted.zero) / n) + 0.01
    mean_ok = abs(observed.mean - predicted.mean) <= 0.1 * max(abs(predicted.mean), 0.1)
    return zero_ok and mean_ok and observed.sums_agree == predicted.sums_agree


def _effective(variant, p: float) -> tuple[float, float]:
    """(drop probability, mean level of one dropout site) under ``variant``."""
    drop = 1 - p if variant.has("dropout-keep-probability") else p
    return drop, (1 - drop) if variant.has("dropout-unscaled") else 1.0


# -- multi-head attention -------------------------------------------------------------------------------------


def mha_case(batch: int, t: int, heads: int, d_head: int) -> tuple[MhaWeights, torch.Tensor]:
    """Weights and x (batch, t, heads * d_head) that expose every attention weight; needs t < d_head."""
    d = heads * d_head
    eye = torch.eye(d, dtype=F64)
    in_weight = torch.cat([torch.zeros(2 * d, d, dtype=F64), eye])
    w = MhaWeights(heads, in_weight, torch.zeros(3 * d, dtype=F64), eye.clone(), torch.zeros(d, dtype=F64))
    x = torch.zeros(batch, t, d, dtype=F64)
    for h in range(heads):
        for j in range(t):
            x[:, j, h * d_head + j] = 1.0
        x[:, :, h * d_head + d_head - 1] = 1.0  # the sum channel
    return w, x


def mha_stats(y, t: int, heads: int, d_head: int):
    """The statistics of the attention weights shown in ``y`` (batch, t, heads * d_head)."""
    if not isinstance(y, torch.Tensor) or y.dim() != 3 or y.shape[-1] != heads * d_head or y.shape[1] != t:
        return Failed("an output of another shape")
    y = y.double().reshape(y.shape[0], t, heads, d_head)
    weights = y[..., :t] * t  # (B, T_q, H, T_k): 1 for a kept weight before scaling
    summed = y[..., d_head - 1] * t
    return DropStats(float((weights.abs() < ZERO).double().mean()), float(weights.mean()), weights.numel(),
                     bool(torch.isclose(weights.sum(-1), summed, atol=1e-6).all()))


def mha_expected(variant, p: float) -> DropStats:
    site = dropout_site(variant)
    drop, level = _effective(variant, p)
    if site in ("", "scores"):  # every score is 0 here: dropping scores changes nothing
        return DropStats(0.0, 1.0)
    return DropStats(drop, level, sums_agree=site == "weights")


# -- the block -----------------------------------------------------------------------------------------------


def _blank_block(d: int, heads: int, d_ff: int, activation: str) -> dict:
    zeros = torch.zeros
    return {"in_weight": zeros(3 * d, d, dtype=F64), "in_bias": zeros(3 * d, dtype=F64),
            "out_weight": zeros(d, d, dtype=F64), "out_bias": zeros(d, dtype=F64),
            "linear1": (zeros(d_ff, d, dtype=F64), zeros(d_ff, dtype=F64)),
            "linear2": (zeros(d, d_ff, dtype=F64), zeros(d, dtype=F64)),
            "norm": (torch.ones(d, dtype=F64), zeros(d, dtype=F64)), "heads": heads, "activation": activation}


def _block_of(parts: dict, eps: float = 1e-5) -> BlockWeights:
    attn = MhaWeights(parts["heads"], parts["in_weight"], parts["in_bias"], parts["out_weight"], parts["out_bias"])
    return BlockWeights(attn, parts["linear1"], parts["linear2"], parts["norm"], parts["norm"], eps,
                        parts["activation"], True)


def block_attention_case(d: int, heads: int, d_ff: int, level: float = 1.0) -> BlockWeights:
    """Pre-LN, feed-forward off; attention gives ``level`` times the kept share of the weights, in every channel."""
    parts = _blank_block(d, heads, d_ff, "relu")
    parts["in_bias"][2 * d:] = level
    parts["out_weight"] = torch.eye(d, dtype=F64)
    return _block_of(parts)


def block_ff_case(d: int, heads: int, d_ff: int, level: float = 1.0) -> BlockWeights:
    """Pre-LN, attention off; each output sums two hidden units of value ``level`` (needs d_ff >= 2 d)."""
    parts = _blank_block(d, heads, d_ff, "relu")
    parts["linear1"] = (torch.zeros(d_ff, d, dtype=F64), torch.full((d_ff,), level, dtype=F64))
    weight = torch.zeros(d, d_ff, dtype=F64)
    weight[:, :d] += torch.eye(d, dtype=F64)
    weight[:, d:2 * d] += torch.eye(d, dtype=F64)
    parts["linear2"] = (weight, torch.zeros(d, dtype=F64))
    return _block_of(parts)


def block_stats(out, x: torch.Tensor, level: float):
    """Statistics of (out - x) / level: what the sub-layer under test added, in units of its dropout-free value."""
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        return Failed("an output of another shape")
    r = (out.double() - x) / level
    return DropStats(float((r.abs() < ZERO).double().mean()), float(r.mean()), r.numel())


def block_attention_expected(variant, p: float, t: int) -> DropStats:
    sites, site = dropout_sites(variant), dropout_site(variant)
    drop, level = _effective(variant, p)
    weights = drop if sites and site == "weights" else 0.0  # dropping zero scores changes nothing
    output = drop if sites and site == "output" else 0.0
    after = drop if "attention" in sites else 0.0
    kept = (1 - after) * (1 - output) * (1 - weights ** t)
    mean = 1.0
    for active in (weights, output, after):
        mean *= level if active else 1.0
    return DropStats(1 - kept, mean)


def block_ff_expected(variant, p: float) -> DropStats:
    sites = dropout_sites(variant)
    drop, level = _effective(variant, p)
    hidden = drop if "ff-hidden" in sites else 0.0
    output = drop if "ff-output" in sites else 0.0
    mean = 2.0 * (level if hidden else 1.0) * (level if output else 1.0)
    return DropStats(output + (1 - output) * hidden ** 2, mean)
