"""Mutant: generate_cached feeds the whole sequence with the cache at every step."""

EXPECT = 'only the new token'

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

# --- the blocks from milestones 1-3, attention now with a cache ---------------------


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
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask, past=None):
        """x: (B, T, D); mask: bool (T, P + T), True = may attend; past: None or (k, v), each (B, H, P, d).
        Returns (y (B, T, D), (k, v) each (B, H, P + T, d))."""
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in self.qkv(x).split(D, -1))
        if past is not None:
            k = torch.cat([past[0], k], dim=2)  # (B, H, P + T, d): the cached keys, then the new ones
            v = torch.cat([past[1], v], dim=2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, P + T)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = self.dropout(torch.softmax(scores, -1))
        y = (weights @ v).transpose(1, 2).contiguous().view(B, T, D)  # (B, T, D)
        return self.out(y), (k, v)


class Block(nn.Module):
    """Pre-LN block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask, past=None):
        a, present = self.attn(self.norm1(x), mask, past)
        x = x + self.dropout(a)
        return x + self.mlp(self.norm2(x)), present


# --- the language model -----------------------------------------------------------


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int  # longest context, cached tokens included
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

    def forward(self, ids: torch.Tensor, cache: list | None = None):
        """ids: (B, T) int64, the new tokens. cache: None, or what the previous call returned: one
        (k, v) per layer, each (B, H, P, d), for the P tokens before ids (P + T <= block_size).
        Returns (logits (B, T, V), the cache extended to P + T tokens)."""
        B, T = ids.shape
        past = 0 if cache is None else cache[0][0].shape[-2]  # P: how many tokens are cached
        positions = torch.arange(past, past + T, device=ids.device)  # the new tokens continue after the cache
        x = self.dropout(self.tok_emb(ids) + self.pos_emb(positions))  # (B, T, D)
        mask = self.causal[past:past + T, :past + T]  # (T, P + T): new token i sees 0..P + i
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, mask, None if cache is None else cache[i])
            new_cache.append(present)
        return self.head(self.norm(x)), new_cache  # (B, T, V)


def build_model(spec: dict) -> nn.Module:
    return GPT(GPTConfig(vocab_size=spec["vocab_size"], block_size=spec["block_size"]))


@torch.no_grad()
def generate_cached(model: nn.Module, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding with the cache: the prompt goes through once, then one token per step.
    ids: (B, T) -> (B, T + max_new_tokens); T + max_new_tokens <= block_size."""
    was_training = model.training
    model.eval()
    logits, cache = model(ids)  # the whole prompt once
    for step in range(max_new_tokens):
        next_id = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        ids = torch.cat([ids, next_id], dim=1)
        if step < max_new_tokens - 1:
            logits, cache = model(ids, cache)  # BUG: the whole sequence again, on top of the cache
    model.train(was_training)
    return ids
