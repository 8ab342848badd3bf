"""Alternative: separate q/k/v projections with einsum and an additive float mask; each attention
module keeps its latest weights in an attribute, GPT.forward collects them after the pass and returns
one stacked (L, B, H, T, T) tensor instead of a list."""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias=True, dropout=0.0):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.q, self.k, self.v = (nn.Linear(d_model, d_model, bias=bias) for _ in range(3))
        self.proj = nn.Linear(d_model, d_model, bias=bias)
        self.drop = nn.Dropout(dropout)
        self.last_weights = None  # (B, H, T, T) of the latest forward

    def forward(self, x, mask=None, key_padding_mask=None, need_weights=False):
        B, T, D = x.shape
        H, d = self.n_heads, self.d_head
        q, k, v = (f(x).view(B, T, H, d) for f in (self.q, self.k, self.v))  # (B, T, H, d)
        allowed = torch.ones(B, T, T, dtype=torch.bool, device=x.device)
        if mask is not None:
            allowed = allowed & mask
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask[:, None, :]
        bias = torch.zeros(B, 1, T, T, dtype=x.dtype, device=x.device).masked_fill(~allowed[:, None], float("-inf"))
        scores = torch.einsum("bihd,bjhd->bhij", q, k) / math.sqrt(d) + bias  # (B, H, T, T)
        weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
        self.last_weights = weights.detach()
        y = torch.einsum("bhij,bjhd->bihd", self.drop(weights), v).reshape(B, T, D)
        out = self.proj(y)
        return (out, weights) if need_weights else out

    @torch.no_grad()
    def load_torch_weights(self, mha):
        for layer, w, b in zip((self.q, self.k, self.v), mha.in_proj_weight.chunk(3), mha.in_proj_bias.chunk(3)):
            layer.weight.copy_(w)
            layer.bias.copy_(b)
        self.proj.weight.copy_(mha.out_proj.weight)
        self.proj.bias.copy_(mha.out_proj.bias)


class Block(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, mask):
        x = x + self.attn(self.ln1(x), mask)
        return x + self.ff(self.ln2(x))


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int
    d_model: int = 96
    n_heads: int = 3
    n_layers: int = 3
    d_ff: int = 384
    dropout: float = 0.1


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.positions = nn.Parameter(torch.randn(config.block_size, config.d_model) * 0.02)
        self.layers = nn.ModuleList(Block(config.d_model, config.n_heads, config.d_ff, config.dropout)
                                    for _ in range(config.n_layers))
        self.ln = nn.LayerNorm(config.d_model)
        self.unembed = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, ids, need_weights=False):
        T = ids.shape[1]
        x = self.embed(ids) + self.positions[:T]
        mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).tril()
        for layer in self.layers:
            x = layer(x, mask)
        logits = self.unembed(self.ln(x))
        if need_weights:
            return logits, torch.stack([layer.attn.last_weights for layer in self.layers])  # (L, B, H, T, T)
        return logits


def build_model(spec):
    return GPT(GPTConfig(spec["vocab_size"], spec["block_size"]))


def attention_patterns(model, ids):
    model.eval()
    with torch.no_grad():
        return model(ids, need_weights=True)[1]
