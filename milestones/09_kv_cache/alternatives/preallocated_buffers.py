"""Alternative: every attention layer writes into preallocated key/value buffers.

Instead of ``torch.cat`` at every step (a new (B, H, P + T, d) tensor per layer
and step), each layer owns buffers of the full context length (B, H,
block_size, d), writes the new tokens' keys and values at positions P..P+T-1
and returns views of the first P + T positions as the cache. A cache that is
already a view of the layer's own buffer costs no copy; any other cache (one
built elsewhere, or one that went through a file or another process) is copied
in first. As with Hugging Face's static cache, a returned cache stays valid
until the next call extends it: extending the same cache twice overwrites the
first extension's positions. With autograd on (training), the layers fall back
to concatenation, so no graph is kept alive in a buffer.

Shapes: B = batch, T = new tokens, P = cached tokens, D = d_model, H = n_heads,
d = D // H, V = vocab_size, L = block_size.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn


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


def _views_of(cached: torch.Tensor, buffer: torch.Tensor | None) -> bool:
    """True when ``cached`` is the first positions of ``buffer`` (same memory, same layout)."""
    return (buffer is not None and cached.data_ptr() == buffer.data_ptr() and cached.stride() == buffer.stride()
            and cached.shape[:2] == buffer.shape[:2] and cached.dtype == buffer.dtype)


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, block_size: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.d_head, self.block_size = n_heads, d_model // n_heads, block_size
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)
        self.k_buffer: torch.Tensor | None = None  # (B, H, L, d), allocated on first use
        self.v_buffer: torch.Tensor | None = None

    def _allocate(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (like.shape[0], self.n_heads, self.block_size, self.d_head)
        if self.k_buffer is None or self.k_buffer.shape != shape or self.k_buffer.dtype != like.dtype \
                or self.k_buffer.device != like.device:
            self.k_buffer, self.v_buffer = like.new_empty(shape), like.new_empty(shape)
        return self.k_buffer, self.v_buffer

    def _extend(self, past, k, v):
        """(keys, values) of all P + T tokens, each (B, H, P + T, d)."""
        if torch.is_grad_enabled():  # training: plain concatenation keeps autograd simple
            return (k, v) if past is None else (torch.cat([past[0], k], 2), torch.cat([past[1], v], 2))
        P, T = (0 if past is None else past[0].shape[2]), k.shape[2]
        keys, values = self._allocate(k)
        if past is not None and not (_views_of(past[0], keys) and _views_of(past[1], values)):
            keys[:, :, :P], values[:, :, :P] = past  # a foreign cache: copy it in once
        keys[:, :, P:P + T], values[:, :, P:P + T] = k, v  # the new tokens, in place
        return keys[:, :, :P + T], values[:, :, :P + T]

    def forward(self, x, mask, past=None):
        """x: (B, T, D); mask: bool (T, P + T), True = may attend; past: None or (k, v), each (B, H, P, d)."""
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in self.qkv(x).split(D, -1))
        k, v = self._extend(past, k, v)  # (B, H, P + T, d) each
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, P + T)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = self.dropout(torch.softmax(scores, -1))
        y = (weights @ v).transpose(1, 2).contiguous().view(B, T, D)
        return self.out(y), (k, v)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int, block_size: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, block_size, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask, past=None):
        a, present = self.attn(self.norm1(x), mask, past)
        x = x + self.dropout(a)
        return x + self.mlp(self.norm2(x)), present


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
            Block(config.d_model, config.n_heads, config.d_ff, config.block_size, config.dropout)
            for _ in range(config.n_layers)
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
        B, T = ids.shape
        past = 0 if cache is None else cache[0][0].shape[2]  # P
        x = self.dropout(self.tok_emb(ids) + self.pos_emb(torch.arange(past, past + T, device=ids.device)))
        mask = self.causal[past:past + T, :past + T]  # (T, P + T)
        new_cache = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, mask, None if cache is None else cache[i])
            new_cache.append(present)
        return self.head(self.norm(x)), new_cache


def build_model(spec: dict) -> nn.Module:
    return GPT(GPTConfig(vocab_size=spec["vocab_size"], block_size=spec["block_size"]))


@torch.no_grad()
def generate_cached(model: nn.Module, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    logits, cache = model(ids)
    new = []
    for step in range(max_new_tokens):
        next_id = logits[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        new.append(next_id)
        if step < max_new_tokens - 1:
            logits, cache = model(next_id, cache)  # the cache is views of the buffers: nothing is copied
    model.train(was_training)
    return torch.cat([ids, *new], dim=1)
