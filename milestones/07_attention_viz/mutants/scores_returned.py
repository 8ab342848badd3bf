"""Mutant: the scores before the softmax are returned as the weights."""

EXPECT = 'before the softmax'


import math
from dataclasses import dataclass

import torch
import torch.nn as nn

# --- the blocks from milestones 1-3, attention now able to show its weights ----------


class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be divisible by n_heads"
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)  # fused, rows [W_q; W_k; W_v]
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None, key_padding_mask=None, need_weights=False):
        """mask: bool (T, T) or (B, T, T), True = may attend; key_padding_mask: bool (B, T), True = padding.
        Returns (B, T, D), or with need_weights=True ((B, T, D), weights (B, H, T, T))."""
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, dim=-1)  # 3 x (B, T, D)
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d)
        allowed = torch.ones(B, 1, T, T, dtype=torch.bool, device=x.device)
        if mask is not None:
            allowed = allowed & (mask if mask.dim() == 2 else mask[:, None])
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask[:, None, None, :]
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, T)
        scores = scores.masked_fill(~allowed, float("-inf"))
        raw = scores  # BUG: returned below instead of the probabilities
        weights = torch.softmax(scores, dim=-1).masked_fill(~allowed.any(-1, keepdim=True), 0.0)  # rows: queries
        y = self.dropout(weights) @ v  # (B, H, T, d)
        out = self.out(y.transpose(1, 2).contiguous().view(B, T, D))
        return (out, raw) if need_weights else out

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> None:
        self.qkv.weight.copy_(mha.in_proj_weight)
        self.out.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.out.bias.copy_(mha.out_proj.bias)


class Block(nn.Module):
    """Pre-LN block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout=dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None, need_weights=False):
        attended, weights = self.attn(self.norm1(x), mask, need_weights=True)  # weights: (B, H, T, T)
        x = x + self.dropout(attended)
        x = x + self.mlp(self.norm2(x))
        return (x, weights) if need_weights else x


# --- the language model of milestone 6 --------------------------------------------


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.0


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.block_size, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.d_model, config.n_heads, config.d_ff, config.dropout) for _ in range(config.n_layers)
        )
        self.norm = LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight
        causal = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
        self.register_buffer("causal", causal, persistent=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor, need_weights: bool = False):
        """ids: (B, T) int64. Returns logits (B, T, V); with need_weights=True (logits, [L x (B, H, T, T)])."""
        B, T = ids.shape
        x = self.dropout(self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device)))  # (B, T, D)
        mask = self.causal[:T, :T]
        weights = []
        for block in self.blocks:
            x, w = block(x, mask, need_weights=True)
            weights.append(w)
        logits = self.head(self.norm(x))  # (B, T, V)
        return (logits, weights) if need_weights else logits


def build_model(spec: dict) -> nn.Module:
    return GPT(GPTConfig(vocab_size=spec["vocab_size"], block_size=spec["block_size"]))


# --- what the visualisation calls ---------------------------------------------------


@torch.no_grad()
def attention_patterns(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Per-head attention weights of every layer for ids (B, T): (L, B, H, T, T), rows = queries.
    Evaluation mode (no dropout); the model's training mode is restored afterwards."""
    was_training = model.training
    model.eval()
    _, weights = model(ids, need_weights=True)
    model.train(was_training)
    return torch.stack(weights)  # (L, B, H, T, T)
