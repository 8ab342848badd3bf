"""Mutant: the stop test in train() is inverted (`if not task.should_stop()`), so train() returns at once and the model stays at random init."""

EXPECT = 'Training barely changed the model'


import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- the blocks from milestones 1-3, copied in --------------------------------


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

    def forward(self, x, mask=None):
        """mask: bool (T, T), True = may attend."""
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in self.qkv(x).split(D, -1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, T)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = self.dropout(torch.softmax(scores, -1))
        y = (weights @ v).transpose(1, 2).contiguous().view(B, T, D)  # (B, T, D)
        return self.out(y)


class Block(nn.Module):
    """Pre-LN block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        x = x + self.dropout(self.attn(self.norm1(x), mask))
        return x + self.mlp(self.norm2(x))


# --- the language model -----------------------------------------------------------


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int  # longest context; the position embedding has this many rows
    d_model: int = 128  # minGPT's "gpt-micro": trains to ~2 nats/char in 3 CPU minutes
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.0  # 1.4M characters and a few epochs at most: no overfitting to fight


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
        self.head.weight = self.tok_emb.weight  # weight tying: one matrix reads and writes tokens
        # Position t may attend to 0..t: the lower triangle, diagonal included.
        causal = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
        self.register_buffer("causal", causal, persistent=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        # GPT-2's N(0, 0.02): PyTorch's default embedding init (std 1) makes the tied
        # head's first logits huge and the first hundred steps are spent shrinking them.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: (B, T) int64 with T <= block_size. Returns logits (B, T, V); logits[:, t]
        depend on ids[:, :t + 1] only."""
        B, T = ids.shape
        x = self.dropout(self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device)))  # (B, T, D)
        mask = self.causal[:T, :T]
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.norm(x))  # (B, T, V)


def build_model(spec: dict) -> nn.Module:
    return GPT(GPTConfig(vocab_size=spec["vocab_size"], block_size=spec["block_size"]))


@torch.no_grad()
def generate(model: nn.Module, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy continuation: append the most likely next token max_new_tokens times.
    ids: (B, T) -> (B, T + max_new_tokens)."""
    was_training = model.training
    model.eval()
    for _ in range(max_new_tokens):
        context = ids[:, -model.config.block_size :]  # the model has no positions beyond block_size
        next_id = model(context)[:, -1].argmax(-1, keepdim=True)  # (B, 1)
        ids = torch.cat([ids, next_id], dim=1)
    model.train(was_training)
    return ids


# --- training ---------------------------------------------------------------------


@dataclass
class TrainConfig:
    batch_size: int = 32
    lr: float = 2e-3  # small model, short run: a high peak rate with warm-up and decay
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_every: int = 200


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up, then cosine decay over the time budget (progress in [0, 1]):
    the schedule adapts to any --budget-s without knowing the step count in advance."""
    warmup = min(1.0, (step + 1) / cfg.warmup_steps)
    decay = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.lr * warmup * decay


@torch.no_grad()
def validation_loss(model: nn.Module, task, max_batches: int = 20) -> float:
    model.eval()
    losses = []
    for i, windows in enumerate(task.validation_batches(64)):
        if i == max_batches:  # a sample of the split is enough to watch for trouble
            break
        logits = model(windows[:, :-1])
        losses.append(F.cross_entropy(logits.flatten(0, 1), windows[:, 1:].flatten()).item())
    model.train()
    return sum(losses) / len(losses)


def train(model: nn.Module, task) -> None:
    cfg = TrainConfig()
    torch.manual_seed(task.seed)
    model.to(task.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99))
    for step, windows in enumerate(task.batches(cfg.batch_size)):  # windows: (B, block_size + 1)
        if not task.should_stop():  # BUG: inverted, stops at the first step
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step, 1 - task.time_left() / task.budget_s)
        inputs, targets = windows[:, :-1], windows[:, 1:]  # logits[:, t] predicts ids[:, t + 1]
        logits = model(inputs)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        if step % 10 == 0:
            task.log(step, loss.item(), lr=optimizer.param_groups[0]["lr"])
        if (step + 1) % cfg.eval_every == 0:
            task.log(step, loss.item(), val_loss=validation_loss(model, task))
