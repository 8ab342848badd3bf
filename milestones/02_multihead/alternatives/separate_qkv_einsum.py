"""Alternative: separate q/k/v/out layers under other names, heads split with view + permute, einsum for both products, an additive float mask."""

import math

import torch
import torch.nn as nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True, dropout=0.0):
        super().__init__()
        self.h, self.d = n_heads, d_model // n_heads
        self.query = nn.Linear(d_model, d_model, bias=bias)
        self.key = nn.Linear(d_model, d_model, bias=bias)
        self.value = nn.Linear(d_model, d_model, bias=bias)
        self.output = nn.Linear(d_model, d_model, bias=bias)
        self.attn_drop = nn.Dropout(dropout)

    def split(self, z):  # (B, T, D) -> (B, H, T, d)
        b, t, _ = z.shape
        return z.view(b, t, self.h, self.d).permute(0, 2, 1, 3)

    def forward(self, x, mask=None, key_padding_mask=None):
        b, t, d_model = x.shape
        q, k, v = self.split(self.query(x)), self.split(self.key(x)), self.split(self.value(x))
        bias = torch.zeros(b, 1, t, t, dtype=x.dtype)  # additive: 0 = attend, -inf = blocked
        if mask is not None:
            m = mask if mask.dim() == 2 else mask.unsqueeze(1)
            bias = bias.masked_fill(~m, -math.inf)
        if key_padding_mask is not None:
            bias = bias.masked_fill(key_padding_mask.view(b, 1, 1, t), -math.inf)
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(self.d) + bias
        weights = torch.nan_to_num(scores.softmax(-1), nan=0.0)  # a row with no key: zeros
        y = torch.einsum("bhqk,bhkd->bqhd", self.attn_drop(weights), v).reshape(b, t, d_model)
        return self.output(y)

    @torch.no_grad()
    def load_torch_weights(self, mha):
        for layer, w in zip((self.query, self.key, self.value), mha.in_proj_weight.chunk(3)):
            layer.weight.copy_(w)
        self.output.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            for layer, b in zip((self.query, self.key, self.value), mha.in_proj_bias.chunk(3)):
                layer.bias.copy_(b)
            self.output.bias.copy_(mha.out_proj.bias)
