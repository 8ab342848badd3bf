"""Alternative: raw parameters and a Python loop over heads (torch.where masks), post-LN blocks
(norm after the residual, as in the original transformer), fixed sinusoidal positions, weights
returned as a tuple per layer and stacked in float64 by attention_patterns."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True, dropout=0.0):
        super().__init__()
        self.n_heads, self.d_head, self.p = n_heads, d_model // n_heads, dropout
        self.W_in = nn.Parameter(torch.randn(3 * d_model, d_model) * d_model ** -0.5)
        self.W_out = nn.Parameter(torch.randn(d_model, d_model) * d_model ** -0.5)
        self.b_in = nn.Parameter(torch.zeros(3 * d_model)) if bias else None
        self.b_out = nn.Parameter(torch.zeros(d_model)) if bias else None

    def forward(self, x, mask=None, key_padding_mask=None, need_weights=False):
        B, T, D = x.shape
        q, k, v = F.linear(x, self.W_in, self.b_in).chunk(3, dim=-1)
        allowed = torch.ones(B, T, T, dtype=torch.bool, device=x.device)
        if mask is not None:
            allowed = allowed & mask
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask.unsqueeze(1)
        heads, patterns = [], []
        for h in range(self.n_heads):
            cols = slice(h * self.d_head, (h + 1) * self.d_head)
            scores = q[..., cols] @ k[..., cols].transpose(1, 2) / math.sqrt(self.d_head)  # (B, T, T)
            scores = torch.where(allowed, scores, torch.full_like(scores, float("-inf")))
            w = torch.softmax(scores, dim=-1)
            w = torch.where(allowed.any(-1, keepdim=True), w, torch.zeros_like(w))
            patterns.append(w)
            heads.append(F.dropout(w, self.p, self.training) @ v[..., cols])
        out = F.linear(torch.cat(heads, dim=-1), self.W_out, self.b_out)
        return (out, torch.stack(patterns, dim=1)) if need_weights else out  # weights (B, H, T, T)

    @torch.no_grad()
    def load_torch_weights(self, mha):
        self.W_in.copy_(mha.in_proj_weight)
        self.W_out.copy_(mha.out_proj.weight)
        if self.b_in is not None:
            self.b_in.copy_(mha.in_proj_bias)
            self.b_out.copy_(mha.out_proj.bias)


class PostLNBlock(nn.Module):
    def __init__(self, d, heads, d_ff):
        super().__init__()
        self.attention = MultiHeadAttention(d, heads)
        self.norm_a, self.norm_b = nn.LayerNorm(d), nn.LayerNorm(d)
        self.up, self.down = nn.Linear(d, d_ff), nn.Linear(d_ff, d)

    def forward(self, x, mask, need_weights=False):
        a, w = self.attention(x, mask, need_weights=True)
        x = self.norm_a(x + a)
        x = self.norm_b(x + self.down(F.relu(self.up(x))))
        return x, w


def sinusoids(n, d):
    position = torch.arange(n, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(n, d)
    table[:, 0::2], table[:, 1::2] = torch.sin(position * frequency), torch.cos(position * frequency)
    return table


class TinyGPT(nn.Module):
    def __init__(self, vocab, block, d=64, heads=2, layers=2, d_ff=128):
        super().__init__()
        self.tokens = nn.Embedding(vocab, d)
        self.register_buffer("table", sinusoids(block, d), persistent=False)
        self.blocks = nn.ModuleList(PostLNBlock(d, heads, d_ff) for _ in range(layers))
        self.out = nn.Linear(d, vocab)

    def forward(self, ids, need_weights=False):
        T = ids.shape[1]
        x = self.tokens(ids) + self.table[:T]
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool, device=ids.device))
        weights = ()
        for block in self.blocks:
            x, w = block(x, mask)
            weights += (w,)
        logits = self.out(x)
        return (logits, weights) if need_weights else logits


def build_model(spec):
    return TinyGPT(spec["vocab_size"], spec["block_size"])


@torch.no_grad()
def attention_patterns(model, ids):
    mode = model.training
    model.train(False)
    weights = model(ids, need_weights=True)[1]
    model.train(mode)
    return torch.stack(weights).double()
