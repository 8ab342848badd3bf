"""Alternative: the cache holds keys and values before they are split into heads.

Each layer caches (B, P, D) tensors, the outputs of its key and value
projections, and splits them into heads after concatenating the new tokens.
Separate query/key/value projections, an untied output head, and a causal mask
computed from the positions rather than sliced from a stored triangle: new
token i (at position P + i) may attend to key j when j <= P + i.

Shapes: B = batch, T = new tokens, P = cached tokens, D = d_model, H = n_heads,
d = D // H, V = vocab_size.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(d_model))
        self.shift = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        return centred * torch.rsqrt(centred.pow(2).mean(-1, keepdim=True) + self.eps) * self.gain + self.shift


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.value = nn.Linear(d_model, d_model)
        self.proj = nn.Linear(d_model, d_model)

    def heads(self, x):  # (B, S, D) -> (B, H, S, d)
        B, S, D = x.shape
        return x.view(B, S, self.n_heads, D // self.n_heads).transpose(1, 2)

    def forward(self, x, past=None):
        """x: (B, T, D); past: None or (k, v), each (B, P, D). Returns (y (B, T, D), (k, v) each (B, P + T, D))."""
        B, T, D = x.shape
        k, v = self.key(x), self.value(x)  # (B, T, D)
        if past is not None:
            k, v = torch.cat([past[0], k], dim=1), torch.cat([past[1], v], dim=1)  # (B, P + T, D)
        P = k.shape[1] - T
        allowed = torch.arange(P + T, device=x.device)[None, :] <= torch.arange(P, P + T, device=x.device)[:, None]
        scores = self.heads(self.query(x)) @ self.heads(k).transpose(-2, -1) / math.sqrt(D // self.n_heads)
        scores = scores.masked_fill(~allowed, float("-inf"))  # (B, H, T, P + T)
        y = F.softmax(scores, dim=-1) @ self.heads(v)  # (B, H, T, d)
        return self.proj(y.transpose(1, 2).reshape(B, T, D)), (k, v)


class Block(nn.Module):
    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        self.ln_1, self.ln_2 = LayerNorm(d_model), LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads)
        self.fc, self.fc_out = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)

    def forward(self, x, past=None):
        a, present = self.attn(self.ln_1(x), past)
        x = x + a
        return x + self.fc_out(F.gelu(self.fc(self.ln_2(x)))), present


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int
    d_model: int = 96
    n_heads: int = 3
    n_layers: int = 3
    d_ff: int = 384


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.wpe = nn.Embedding(config.block_size, config.d_model)
        self.layers = nn.ModuleList(Block(config.d_model, config.n_heads, config.d_ff) for _ in range(config.n_layers))
        self.ln_f = LayerNorm(config.d_model)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size)

    def forward(self, ids: torch.Tensor, cache: list | None = None):
        T = ids.shape[1]
        P = 0 if cache is None else cache[0][0].shape[1]  # (B, P, D): the sequence axis is 1 (= -2)
        x = self.wte(ids) + self.wpe(torch.arange(P, P + T, device=ids.device))
        presents = []
        for layer, block in enumerate(self.layers):
            x, present = block(x, None if cache is None else cache[layer])
            presents.append(present)
        return self.lm_head(self.ln_f(x)), presents


def build_model(spec: dict) -> nn.Module:
    return GPT(GPTConfig(vocab_size=spec["vocab_size"], block_size=spec["block_size"]))


@torch.no_grad()
def generate_cached(model: nn.Module, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    model.eval()
    out, step_ids, cache = ids, ids, None
    for _ in range(max_new_tokens):
        logits, cache = model(step_ids, cache)
        step_ids = logits[:, -1:].argmax(-1)  # (B, 1): the next input is the new token alone
        out = torch.cat([out, step_ids], dim=1)
    return out
