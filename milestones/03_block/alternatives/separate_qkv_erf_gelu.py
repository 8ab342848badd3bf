"""Alternative: separate q/k/v layers with einsum attention, GELU written with erf, LayerNorm from one-pass moments E[x^2] - E[x]^2, dropout through F.dropout(training=self.training)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = (x * x).mean(-1, keepdim=True) - mean * mean
        return (x - mean) / (var + self.eps).sqrt() * self.weight + self.bias


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias, dropout):
        super().__init__()
        self.h, self.p = n_heads, dropout
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d_model, d_model, bias=bias) for _ in range(4))

    def forward(self, x, mask, key_padding_mask):
        b, t, d = x.shape
        q, k, v = (w(x).reshape(b, t, self.h, d // self.h) for w in (self.wq, self.wk, self.wv))  # (B, T, H, d)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d // self.h)
        allowed = torch.ones(b, 1, t, t, dtype=torch.bool)
        if mask is not None:
            allowed = allowed & (mask if mask.dim() == 2 else mask[:, None])
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask[:, None, None, :]
        weights = torch.softmax(scores.masked_fill(~allowed, -math.inf), -1).nan_to_num(0.0)
        weights = F.dropout(weights, self.p, training=self.training)
        return self.wo(torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, d))

    @torch.no_grad()
    def load(self, mha):
        for layer, w in zip((self.wq, self.wk, self.wv), mha.in_proj_weight.chunk(3)):
            layer.weight.copy_(w)
        self.wo.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            for layer, b in zip((self.wq, self.wk, self.wv), mha.in_proj_bias.chunk(3)):
                layer.bias.copy_(b)
            self.wo.bias.copy_(mha.out_proj.bias)


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, activation="relu", norm_first=False,
                 layer_norm_eps=1e-5, bias=True):
        super().__init__()
        self.sa = SelfAttention(d_model, n_heads, bias, dropout)
        self.fc_in = nn.Linear(d_model, d_ff, bias=bias)
        self.fc_out = nn.Linear(d_ff, d_model, bias=bias)
        self.ln_attn, self.ln_ff = LayerNorm(d_model, layer_norm_eps), LayerNorm(d_model, layer_norm_eps)
        self.act = gelu if activation == "gelu" else torch.relu
        self.p, self.norm_first = dropout, norm_first

    def drop(self, x):
        return F.dropout(x, self.p, training=self.training)

    def ff(self, x):
        return self.drop(self.fc_out(self.drop(self.act(self.fc_in(x)))))

    def forward(self, x, mask=None, key_padding_mask=None):
        if self.norm_first:
            x = x + self.drop(self.sa(self.ln_attn(x), mask, key_padding_mask))
            return x + self.ff(self.ln_ff(x))
        x = self.ln_attn(x + self.drop(self.sa(x, mask, key_padding_mask)))
        return self.ln_ff(x + self.ff(x))

    @torch.no_grad()
    def load_torch_weights(self, layer):
        self.sa.load(layer.self_attn)
        pairs = ((self.fc_in, layer.linear1), (self.fc_out, layer.linear2), (self.ln_attn, layer.norm1), (self.ln_ff, layer.norm2))
        for mine, theirs in pairs:
            mine.weight.copy_(theirs.weight)
            if theirs.bias is not None:
                mine.bias.copy_(theirs.bias)
            elif isinstance(mine, LayerNorm):
                mine.bias.zero_()
