"""Mutant: calls F.scaled_dot_product_attention, the built-in this milestone replaces."""

EXPECT = 'asks you to write it yourself'


import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # BUG: the built-in
    scores = q @ k.transpose(-2, -1)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    if mask is not None:
        # a query with every key masked is a row of -inf: softmax gives NaN, we give zeros
        weights = weights.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)
    return weights @ v  # (..., T_q, d_v)


class SelfAttention(nn.Module):
    def __init__(self, d_model: int, bias: bool = True):
        super().__init__()
        self.d_model = d_model
        self.q = nn.Linear(d_model, d_model, bias=bias)
        self.k = nn.Linear(d_model, d_model, bias=bias)
        self.v = nn.Linear(d_model, d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, D)
        y = scaled_dot_product_attention(self.q(x), self.k(x), self.v(x), mask)  # (B, T, D)
        return self.out(y)

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> None:
        for layer, weight in zip((self.q, self.k, self.v), mha.in_proj_weight.chunk(3)):
            layer.weight.copy_(weight)
        self.out.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            for layer, bias in zip((self.q, self.k, self.v), mha.in_proj_bias.chunk(3)):
                layer.bias.copy_(bias)
            self.out.bias.copy_(mha.out_proj.bias)
