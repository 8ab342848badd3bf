"""Mutant: SelfAttention wraps nn.MultiheadAttention, a built-in of a later milestone."""

EXPECT = 'asks you to write it yourself'


import math

import torch
import torch.nn as nn


def scaled_dot_product_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (..., T_q, T_k)
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
        self.mha = nn.MultiheadAttention(d_model, 1, bias=bias, batch_first=True)  # BUG: the built-in

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, T, D)
        return self.mha(x, x, x, attn_mask=None if mask is None else ~mask, need_weights=False)[0]

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> None:
        self.mha.load_state_dict(mha.state_dict())
        for layer, weight in zip((self.q, self.k, self.v), mha.in_proj_weight.chunk(3)):
            layer.weight.copy_(weight)
        self.out.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            for layer, bias in zip((self.q, self.k, self.v), mha.in_proj_bias.chunk(3)):
                layer.bias.copy_(bias)
            self.out.bias.copy_(mha.out_proj.bias)
