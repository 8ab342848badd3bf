"""Mutant: LayerNorm.forward calls F.layer_norm, the built-in this milestone replaces."""

EXPECT = 'asks you to write it yourself'


import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)  # biased, as LayerNorm defines it
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)  # BUG: the built-in


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None, key_padding_mask=None):
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in self.qkv(x).split(D, -1))
        allowed = torch.ones(B, 1, T, T, dtype=torch.bool, device=x.device)
        if mask is not None:
            allowed = allowed & (mask if mask.dim() == 2 else mask[:, None])
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask[:, None, None, :]
        scores = (q @ k.transpose(-2, -1) / math.sqrt(self.d_head)).masked_fill(~allowed, float("-inf"))
        weights = torch.softmax(scores, -1).masked_fill(~allowed.any(-1, keepdim=True), 0.0)
        y = (self.dropout(weights) @ v).transpose(1, 2).contiguous().view(B, T, D)  # (B, T, D)
        return self.out(y)

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> None:
        self.qkv.weight.copy_(mha.in_proj_weight)
        self.out.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.out.bias.copy_(mha.out_proj.bias)


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, activation="relu", norm_first=False,
                 layer_norm_eps=1e-5, bias=True):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.norm1 = LayerNorm(d_model, layer_norm_eps)
        self.norm2 = LayerNorm(d_model, layer_norm_eps)
        self.drop_attn, self.drop_ff, self.drop_act = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation = {"relu": F.relu, "gelu": F.gelu}[activation]
        self.norm_first = norm_first

    def _sa(self, x, mask, key_padding_mask):
        return self.drop_attn(self.attn(x, mask, key_padding_mask))

    def _ff(self, x):
        return self.drop_ff(self.linear2(self.drop_act(self.activation(self.linear1(x)))))

    def forward(self, x, mask=None, key_padding_mask=None):
        if self.norm_first:  # pre-LN
            x = x + self._sa(self.norm1(x), mask, key_padding_mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, mask, key_padding_mask))  # post-LN
        return self.norm2(x + self._ff(x))

    @torch.no_grad()
    def load_torch_weights(self, layer: nn.TransformerEncoderLayer) -> None:
        self.attn.load_torch_weights(layer.self_attn)
        for mine, theirs in ((self.linear1, layer.linear1), (self.linear2, layer.linear2),
                             (self.norm1, layer.norm1), (self.norm2, layer.norm2)):
            mine.weight.copy_(theirs.weight)
            if theirs.bias is not None:
                mine.bias.copy_(theirs.bias)
