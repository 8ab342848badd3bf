"""Alternative: raw nn.Parameters applied with x @ W.T, torch.baddbmm over flattened batch axes, and a hand-written softmax with max-subtraction."""

import math

import torch
import torch.nn as nn


def softmax(scores):
    top = scores.amax(dim=-1, keepdim=True)
    top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))  # an all -inf row stays all -inf
    e = torch.exp(scores - top)
    total = e.sum(dim=-1, keepdim=True)
    return e / torch.where(total > 0, total, torch.ones_like(total))  # all-masked rows: 0 / 1 = zeros


def scaled_dot_product_attention(q, k, v, mask=None):
    *batch, t_q, d = q.shape
    t_k = k.shape[-2]
    q3, k3 = q.reshape(-1, t_q, d), k.reshape(-1, t_k, d)  # (N, T_q, d), (N, T_k, d)
    zeros = q3.new_zeros(q3.shape[0], t_q, t_k)
    scores = torch.baddbmm(zeros, q3, k3.transpose(1, 2), beta=0.0, alpha=1.0 / math.sqrt(d))
    scores = scores.reshape(*batch, t_q, t_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores) @ v


class SelfAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.W_Q, self.W_K, self.W_V, self.W_O = (nn.Parameter(torch.randn(d_model, d_model) / math.sqrt(d_model))
                                                  for _ in range(4))
        self.b_Q, self.b_K, self.b_V, self.b_O = (nn.Parameter(torch.zeros(d_model)) for _ in range(4))
        self.use_bias = bias

    def forward(self, x, mask=None):
        q, k, v = (x @ w.T + b for w, b in ((self.W_Q, self.b_Q), (self.W_K, self.b_K), (self.W_V, self.b_V)))
        return scaled_dot_product_attention(q, k, v, mask) @ self.W_O.T + self.b_O

    @torch.no_grad()
    def load_torch_weights(self, mha):
        for mine, theirs in zip((self.W_Q, self.W_K, self.W_V), mha.in_proj_weight.chunk(3)):
            mine.copy_(theirs)
        self.W_O.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            for mine, theirs in zip((self.b_Q, self.b_K, self.b_V), mha.in_proj_bias.chunk(3)):
                mine.copy_(theirs)
            self.b_O.copy_(mha.out_proj.bias)
