"""Milestone 1: scaled dot-product attention and single-head self-attention.

Fill in every place that raises NotImplementedError. Run `challenge test attention`
to check your work; README.md in this folder explains each piece.

Shapes: B = batch, T = sequence length, D = d_model, d = size of one head.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(q @ k^T / sqrt(d_k)) @ v.

    q: (..., T_q, d_k)   k: (..., T_k, d_k)   v: (..., T_k, d_v)
    mask: optional bool tensor broadcastable to (..., T_q, T_k); True = may attend.
    A query whose keys are all masked gets an output of zeros (not NaN).
    Returns (..., T_q, d_v).
    """
    raise NotImplementedError("TODO(attention): compute scores, scale, mask, softmax over the keys, weight v")


class SelfAttention(nn.Module):
    """One attention head over a sequence: project x to q, k, v (each d_model wide),
    attend, and project back with an output projection."""

    def __init__(self, d_model: int, bias: bool = True):
        super().__init__()
        self.d_model = d_model
        raise NotImplementedError("TODO(attention): create the q, k, v and output projections")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, T, D); mask: bool (T, T) or (B, T, T), True = may attend. Returns (B, T, D)."""
        raise NotImplementedError("TODO(attention): project, call your scaled_dot_product_attention, project out")

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> None:
        """Copy the weights of a one-head nn.MultiheadAttention(d_model, 1, batch_first=True)."""
        raise NotImplementedError("TODO(attention): copy in_proj_weight/in_proj_bias and out_proj into your layers")
