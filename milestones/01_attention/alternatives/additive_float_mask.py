"""Alternative: the bool mask becomes an additive float mask (0 / -inf) added to the scores; q is scaled before the product."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def scaled_dot_product_attention(q, k, v, mask=None):
    q = q / math.sqrt(q.size(-1))  # scaling q instead of the scores: same numbers
    scores = q @ k.transpose(-2, -1)  # (..., T_q, T_k)
    if mask is not None:
        bias = torch.zeros(mask.shape, dtype=scores.dtype).masked_fill(~mask, -math.inf)
        scores = scores + bias
    weights = F.softmax(scores, dim=-1)
    weights = torch.nan_to_num(weights, nan=0.0)  # rows with every key masked: zeros
    return weights @ v


class SelfAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_query = nn.Linear(d_model, d_model, bias=bias)
        self.W_key = nn.Linear(d_model, d_model, bias=bias)
        self.W_value = nn.Linear(d_model, d_model, bias=bias)
        self.W_out = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, mask=None):
        return self.W_out(scaled_dot_product_attention(self.W_query(x), self.W_key(x), self.W_value(x), mask))

    @torch.no_grad()
    def load_torch_weights(self, mha):
        w_q, w_k, w_v = mha.in_proj_weight.split(self.W_query.out_features)
        self.W_query.weight.copy_(w_q)
        self.W_key.weight.copy_(w_k)
        self.W_value.weight.copy_(w_v)
        self.W_out.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            b_q, b_k, b_v = mha.in_proj_bias.split(self.W_query.out_features)
            self.W_query.bias.copy_(b_q)
            self.W_key.bias.copy_(b_k)
            self.W_value.bias.copy_(b_v)
            self.W_out.bias.copy_(mha.out_proj.bias)
