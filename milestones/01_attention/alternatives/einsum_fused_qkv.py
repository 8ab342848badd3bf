"""Alternative: einsum for both products, torch.where for the mask, and one fused (3D, D) qkv projection."""

import math

import torch
import torch.nn as nn


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = torch.einsum("...qd,...kd->...qk", q, k) / math.sqrt(q.shape[-1])  # (..., T_q, T_k)
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, -math.inf))
    weights = scores.softmax(dim=-1)
    if mask is not None:
        weights = torch.where(mask.any(-1, keepdim=True), weights, torch.zeros_like(weights))
    return torch.einsum("...qk,...kd->...qd", weights, v)


class SelfAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)  # rows [W_q; W_k; W_v], as in_proj_weight
        self.proj = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x, mask=None):
        q, k, v = self.qkv(x).chunk(3, dim=-1)  # 3 x (B, T, D)
        return self.proj(scaled_dot_product_attention(q, k, v, mask))

    @torch.no_grad()
    def load_torch_weights(self, mha):
        self.qkv.weight.copy_(mha.in_proj_weight)
        self.proj.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.proj.bias.copy_(mha.out_proj.bias)
