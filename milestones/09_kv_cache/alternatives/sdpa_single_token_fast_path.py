"""Alternative: PyTorch's fused attention, with a mask-free path for one new token.

``F.scaled_dot_product_attention`` (allowed here: milestone 1 asked you to
write it; this milestone is about the cache). Three cases:
- no cache: ``is_causal=True`` over the square (T, T) scores;
- a cache and one new token: no mask at all, since the newest token may attend
  to every key;
- a cache and several new tokens: an explicit boolean mask, rows P..P+T-1 of
  the causal triangle. ``is_causal=True`` would be wrong here: for a
  non-square (T, P + T) score matrix it aligns the triangle to the top left,
  so new token i would see keys 0..i only.

Shapes: B = batch, T = new tokens, P = cached tokens, D = d_model, H = n_heads,
d = D // H, V = vocab_size.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x, past=None):
        B, T, D = x.shape
        q, k, v = self.in_proj(x).view(B, T, 3, self.n_heads, D // self.n_heads).permute(2, 0, 3, 1, 4)  # (B, H, T, d)
        if past is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            k, v = torch.cat([past[0], k], dim=-2), torch.cat([past[1], v], dim=-2)  # (B, H, P + T, d)
            if T == 1:
                y = F.scaled_dot_product_attention(q, k, v)  # the newest token sees everything
            else:
                P = k.shape[-2] - T
                mask = torch.ones(T, P + T, dtype=torch.bool, device=x.device).tril(diagonal=P)  # True = may attend
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out_proj(y.transpose(1, 2).reshape(B, T, D)), (k, v)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, past=None):
        a, present = self.attn(self.norm1(x), past)
        x = x + a
        return x + self.mlp(self.norm2(x)), present


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int
    d_model: int = 128
    n_heads: int = 8
    n_layers: int = 2
    d_ff: int = 256


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Parameter(torch.zeros(config.block_size, config.d_model))
        self.blocks = nn.ModuleList(Block(config.d_model, config.n_heads, config.d_ff) for _ in range(config.n_layers))
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)

    def forward(self, ids: torch.Tensor, cache: list | None = None):
        T = ids.shape[1]
        P = 0 if cache is None else cache[0][0].size(-2)
        x = self.tok_emb(ids) + self.pos_emb[P:P + T]  # positions P..P+T-1
        cache = cache or [None] * len(self.blocks)
        new_cache = []
        for block, past in zip(self.blocks, cache):
            x, present = block(x, past)
            new_cache.append(present)
        return self.head(self.norm(x)), new_cache


def build_model(spec: dict) -> nn.Module:
    return GPT(GPTConfig(vocab_size=spec["vocab_size"], block_size=spec["block_size"]))


@torch.no_grad()
def generate_cached(model: nn.Module, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    model.eval()
    logits, cache = model(ids)
    for step in range(max_new_tokens):
        next_id = logits[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat([ids, next_id], dim=1)
        if step + 1 < max_new_tokens:  # the last token needs no forward (and may sit at position block_size - 1)
            logits, cache = model(next_id, cache)
    return ids
