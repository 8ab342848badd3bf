"""Alternative: the module keeps its own attention code (no call to the function) on a (B, T, T) mask broadcast with unsqueeze, and zeroes all-masked rows by multiplying with the row's any()."""

import math

import torch
import torch.nn as nn


def scaled_dot_product_attention(q, k, v, mask=None):
    d_k = k.size(-1)
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d_k))
    if mask is None:
        return torch.softmax(scores, -1) @ v
    scores = scores.masked_fill(mask.logical_not(), float("-inf"))
    keep = mask.any(-1, keepdim=True)
    weights = torch.softmax(scores.masked_fill(~keep, 0.0), -1) * keep  # all-masked rows: uniform * 0
    return weights @ v


class SelfAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.d_model = d_model
        self.to_q = nn.Linear(d_model, d_model, bias=bias)
        self.to_k = nn.Linear(d_model, d_model, bias=bias)
        self.to_v = nn.Linear(d_model, d_model, bias=bias)
        self.to_out = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, mask=None):
        q, k, v = self.to_q(x), self.to_k(x), self.to_v(x)
        scores = q @ k.transpose(1, 2) / math.sqrt(self.d_model)  # (B, T, T)
        if mask is not None:
            mask = mask if mask.dim() == 3 else mask.unsqueeze(0)
            scores = scores.masked_fill(~mask, -math.inf)
            keep = mask.any(-1, keepdim=True)
            weights = torch.softmax(scores.masked_fill(~keep, 0.0), dim=-1) * keep
        else:
            weights = torch.softmax(scores, dim=-1)
        return self.to_out(weights @ v)

    @torch.no_grad()
    def load_torch_weights(self, mha):
        d = self.d_model
        self.to_q.weight.copy_(mha.in_proj_weight[:d])
        self.to_k.weight.copy_(mha.in_proj_weight[d:2 * d])
        self.to_v.weight.copy_(mha.in_proj_weight[2 * d:])
        self.to_out.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            self.to_q.bias.copy_(mha.in_proj_bias[:d])
            self.to_k.bias.copy_(mha.in_proj_bias[d:2 * d])
            self.to_v.bias.copy_(mha.in_proj_bias[2 * d:])
            self.to_out.bias.copy_(mha.out_proj.bias)
