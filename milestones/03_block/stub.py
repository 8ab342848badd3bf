"""Milestone 3: the transformer encoder block, with your own LayerNorm.

Fill in every place that raises NotImplementedError. Run `challenge test block`.
Copy your milestone 2 MultiHeadAttention into this file (the harness grades this file alone).

Shapes: B = batch, T = sequence length, D = d_model.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    """Normalise over the last axis, then scale and shift. Write it yourself:
    torch.nn.LayerNorm and F.layer_norm are the built-ins this milestone replaces."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError("TODO(block): weight (ones), bias (zeros) and eps")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("TODO(block): (x - mean) / sqrt(var + eps) * weight + bias")


class TransformerBlock(nn.Module):
    """One encoder layer, equivalent to nn.TransformerEncoderLayer(batch_first=True)."""

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        activation: str = "relu",  # "relu" or "gelu" (exact, erf-based)
        norm_first: bool = False,  # False: post-LN (original, BERT); True: pre-LN (GPT-2)
        layer_norm_eps: float = 1e-5,
        bias: bool = True,
    ):
        super().__init__()
        raise NotImplementedError("TODO(block): attention, feed-forward, two LayerNorms, dropouts")

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x: (B, T, D); mask: bool (T, T) or (B, T, T), True = may attend;
        key_padding_mask: bool (B, T), True = padding. Returns (B, T, D)."""
        raise NotImplementedError("TODO(block): residual + attention, residual + feed-forward, "
                                  "norms in the right place")

    @torch.no_grad()
    def load_torch_weights(self, layer: nn.TransformerEncoderLayer) -> None:
        """Copy every weight of nn.TransformerEncoderLayer(..., batch_first=True)."""
        raise NotImplementedError("TODO(block): self_attn, linear1, linear2, norm1, norm2")
