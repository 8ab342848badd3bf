"""Milestone 2: multi-head attention, batch first.

Fill in every place that raises NotImplementedError. Run `challenge test multihead`.
You may import your milestone 1 work by copying it in; the harness grades this file alone.

Shapes: B = batch, T = sequence length, D = d_model, H = n_heads, d = D // H.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be divisible by n_heads"
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        raise NotImplementedError("TODO(multihead): create the projections (separate or fused) and dropout")

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Self-attention over x.

        x: (B, T, D)
        mask: optional bool (T, T) or (B, T, T); True = may attend (e.g. a causal mask)
        key_padding_mask: optional bool (B, T); True = this key is padding, ignore it
        A query that may attend to no key at all gets zeros from attention.
        Returns (B, T, D).
        """
        raise NotImplementedError("TODO(multihead): project, split heads, attend, merge heads, project out")

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> None:
        """Copy the weights of nn.MultiheadAttention(d_model, n_heads, batch_first=True)."""
        raise NotImplementedError("TODO(multihead): copy in_proj_weight/in_proj_bias and out_proj")
