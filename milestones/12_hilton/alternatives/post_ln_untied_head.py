"""Alternative: a different GPT: post-LN blocks (nn.LayerNorm), separate bias-free q, k, v projections, positions
as a bare nn.Parameter, a ReLU MLP, an untied head with a bias, an additive float mask, no final LayerNorm, smaller
defaults (d_model 64, 2 layers); Adam with batches of 64, the count and FLOPs written for this layout."""

import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Sizes:
    vocab_size: int
    block_size: int
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256


def sizes_of(spec: dict) -> Sizes:
    return Sizes(**{f.name: spec[f.name] for f in fields(Sizes) if f.name in spec})


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.h = n_heads
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d_model, d_model, bias=False) for _ in range(4))

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        split = lambda z: z.reshape(b, t, self.h, d // self.h).permute(0, 2, 1, 3)  # (B, H, T, d_head)
        q, k, v = split(self.wq(x)), split(self.wk(x)), split(self.wv(x))
        scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(d // self.h) + additive_mask  # (B, H, T, T)
        mixed = torch.einsum("bhqk,bhkd->bhqd", scores.softmax(-1), v)
        return self.wo(mixed.permute(0, 2, 1, 3).reshape(b, t, d))


class PostLNBlock(nn.Module):
    def __init__(self, s: Sizes):
        super().__init__()
        self.attention = CausalSelfAttention(s.d_model, s.n_heads)
        self.ln_a, self.ln_m = nn.LayerNorm(s.d_model), nn.LayerNorm(s.d_model)
        self.ff = nn.Sequential(nn.Linear(s.d_model, s.d_ff), nn.ReLU(), nn.Linear(s.d_ff, s.d_model))

    def forward(self, x, additive_mask):
        x = self.ln_a(x + self.attention(x, additive_mask))
        return self.ln_m(x + self.ff(x))


class ReversalGPT(nn.Module):
    def __init__(self, s: Sizes):
        super().__init__()
        self.embed = nn.Embedding(s.vocab_size, s.d_model)
        self.layers = nn.ModuleList(PostLNBlock(s) for _ in range(s.n_layers))
        self.unembed = nn.Linear(s.d_model, s.vocab_size)
        self.positions = nn.Parameter(0.02 * torch.randn(s.block_size, s.d_model))
        future = torch.triu(torch.full((s.block_size, s.block_size), float("-inf")), diagonal=1)
        self.register_buffer("future", future, persistent=False)  # -inf above the diagonal: the future

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.embed(ids) + self.positions[:t]
        for layer in self.layers:
            x = layer(x, self.future[:t, :t])
        return self.unembed(x)


def build_model(spec: dict) -> nn.Module:
    return ReversalGPT(sizes_of(spec))


ANSWERS = {
    "recurrence": "No hidden state is carried from step to step: attention reads all earlier positions at once, "
                  "and order comes only from the positional encoding and the causal mask.",
    "qkv": "Per head (B, T, d_model / H); queries ask, keys answer, values carry. Alternatives: additive or "
           "bilinear scores, kernels, linear attention.",
    "dense_layers": "Yes, one MLP per block: each depth sees different features. The same MLP serves every "
                    "position of a block.",
    "skip_connections": "They keep a path for gradients and information through depth; without them deep stacks "
                        "do not train.",
}
CONFIDENCE = {"recurrence": 4, "qkv": 3, "dense_layers": 4, "skip_connections": 3}


def parameter_count(spec: dict) -> int:
    s = sizes_of(spec)
    d, f = s.d_model, s.d_ff
    block = 4 * d * d + 2 * (2 * d) + (d * f + f) + (f * d + d)
    return (s.vocab_size + s.block_size) * d + s.n_layers * block + (d * s.vocab_size + s.vocab_size)


def qkv_shapes(spec: dict, batch_size: int, seq_len: int) -> dict:
    s = sizes_of(spec)
    return {name: (batch_size, s.n_heads, seq_len, s.d_model // s.n_heads) for name in "qkv"}


def forward_flops_per_token(spec: dict, context_len: int) -> float:
    s = sizes_of(spec)
    matmul_weights = parameter_count(spec) - (s.vocab_size + s.block_size) * s.d_model  # the head is a matmul
    return 2.0 * matmul_weights + 2.0 * s.n_layers * context_len * s.d_model


DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "int8": torch.int8}


def kv_cache_bytes(spec: dict, batch_size: int, context_len: int, dtype: str) -> int:
    s = sizes_of(spec)
    element = torch.empty(0, dtype=DTYPES[dtype]).element_size()
    return 2 * s.n_layers * batch_size * context_len * s.d_model * element


def train(model: nn.Module, task) -> None:
    torch.manual_seed(task.seed)
    model.to(task.device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    n = task.spec["half_len"]
    check = next(task.validation_batches(256))[0]
    for step, (rows, _) in enumerate(task.batches(64)):
        if task.should_stop():
            break
        loss = F.cross_entropy(model(rows[:, :-1]).transpose(1, 2), rows[:, 1:])  # (B, V, T) vs (B, T)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 5 == 0:
            with torch.no_grad():
                model.eval()
                right = (model(check[:, :-1]).argmax(-1) == check[:, 1:]).float().mean(0)
                model.train()
            task.log(step, loss.item(), first_half_acc=right[: n - 1].mean().item(),
                     second_half_acc=right[n:].mean().item())
            if right[n:].min() == 1.0 and step >= 50:
                break
