"""Alternative: raw nn.Parameters (W_in, b_in, W_out, b_out), a Python loop over heads slicing rows h*d:(h+1)*d, heads concatenated in order, torch.where for the mask."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True, dropout=0.0):
        super().__init__()
        self.n_heads, self.d_head, self.dropout = n_heads, d_model // n_heads, dropout
        self.W_in = nn.Parameter(torch.empty(3 * d_model, d_model).normal_(0, d_model ** -0.5))
        self.W_out = nn.Parameter(torch.empty(d_model, d_model).normal_(0, d_model ** -0.5))
        self.b_in = nn.Parameter(torch.zeros(3 * d_model)) if bias else None
        self.b_out = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x, mask=None, key_padding_mask=None):
        B, T, D = x.shape
        q, k, v = F.linear(x, self.W_in, self.b_in).chunk(3, dim=-1)  # 3 x (B, T, D)
        allowed = torch.ones(B, T, T, dtype=torch.bool)
        if mask is not None:
            allowed = allowed & mask  # (T, T) or (B, T, T)
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask.unsqueeze(1)  # (B, 1, T): over the keys
        heads = []
        for h in range(self.n_heads):
            cols = slice(h * self.d_head, (h + 1) * self.d_head)
            scores = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(self.d_head)  # (B, T, T)
            scores = torch.where(allowed, scores, torch.tensor(float("-inf"), dtype=scores.dtype))
            weights = torch.softmax(scores, dim=-1)
            weights = torch.where(allowed.any(-1, keepdim=True), weights, torch.zeros_like(weights))
            weights = F.dropout(weights, self.dropout, training=self.training)
            heads.append(weights @ v[..., cols])  # (B, T, d)
        return F.linear(torch.cat(heads, dim=-1), self.W_out, self.b_out)

    @torch.no_grad()
    def load_torch_weights(self, mha):
        self.W_in.copy_(mha.in_proj_weight)
        self.W_out.copy_(mha.out_proj.weight)
        if self.b_in is not None:
            self.b_in.copy_(mha.in_proj_bias)
            self.b_out.copy_(mha.out_proj.bias)
