"""Mutant: dropout before the head is F.dropout(..., training=True), active in eval mode too, so evaluation is random."""

EXPECT = 'Dropout still active in eval mode'
CHECK_BUDGET_S = 2  # the bug shows at random init: no need to train for long


import copy
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

    def forward(self, x, key_padding_mask=None):
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in self.qkv(x).split(D, -1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, T)
        if key_padding_mask is not None:  # nobody attends to padding
            scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
        weights = self.dropout(torch.softmax(scores, -1))
        y = (weights @ v).transpose(1, 2).contiguous().view(B, T, D)  # (B, T, D)
        return self.out(y)


class Block(nn.Module):
    """Pre-LN encoder block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, key_padding_mask=None):
        x = x + self.dropout(self.attn(self.norm1(x), key_padding_mask))
        return x + self.mlp(self.norm2(x))


# --- the classifier -------------------------------------------------------------


@dataclass
class ClassifierConfig:
    vocab_size: int
    n_classes: int
    max_len: int  # longest input the position embedding must cover
    pad_id: int = 0
    d_model: int = 64  # small on purpose: 8.5k training sentences and 90 s of CPU
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    dropout: float = 0.2  # 8.5k sentences: 0.2 gives +2 points of test accuracy over 0.1 (bench, 5 seeds)


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model, padding_idx=config.pad_id)
        self.pos_emb = nn.Embedding(config.max_len, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.d_model, config.n_heads, config.d_ff, config.dropout) for _ in range(config.n_layers)
        )
        self.norm = LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.n_classes)

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """ids: (B, T) int64; padding_mask: (B, T) bool, True = padding. Returns logits (B, n_classes)."""
        B, T = ids.shape
        x = self.dropout(self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device)))  # (B, T, D)
        for block in self.blocks:
            x = block(x, padding_mask)
        x = self.norm(x)
        real = (~padding_mask).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
        pooled = (x * real).sum(1) / real.sum(1).clamp(min=1.0)  # mean over real tokens only: (B, D)
        return self.head(F.dropout(pooled, self.config.dropout, training=True))  # BUG: always on


def build_model(spec: dict) -> nn.Module:
    return Classifier(
        ClassifierConfig(vocab_size=spec["vocab_size"], n_classes=spec["n_classes"], max_len=spec["max_len"],
                         pad_id=spec["pad_id"])
    )


# --- training ---------------------------------------------------------------------


@dataclass
class TrainConfig:
    batch_size: int = 64
    lr: float = 3e-3  # 1e-3 needs twice the steps to reach the same accuracy
    min_lr_ratio: float = 0.1
    warmup_steps: int = 50
    weight_decay: float = 0.01
    label_smoothing: float = 0.0
    eval_every: int = 50  # steps; an epoch of rt-polarity is 133 steps
    patience: int = 8  # evaluations without a better validation accuracy before we stop


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    """Linear warm-up, then cosine decay over the time budget (progress in [0, 1]):
    the schedule adapts to any --budget-s without knowing the step count in advance."""
    warmup = min(1.0, (step + 1) / cfg.warmup_steps)
    decay = cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.lr * warmup * decay


@torch.no_grad()
def accuracy(model: nn.Module, batches) -> float:
    model.eval()
    correct = total = 0
    for ids, padding_mask, labels in batches:
        correct += int((model(ids, padding_mask).argmax(-1) == labels).sum())
        total += len(labels)
    model.train()
    return correct / max(total, 1)


def train(model: nn.Module, task) -> None:
    cfg = TrainConfig()
    torch.manual_seed(task.seed)
    model.to(task.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best_acc, best_state, stale = -1.0, None, 0
    for step, (ids, padding_mask, labels) in enumerate(task.batches(cfg.batch_size)):
        if task.should_stop() or stale >= cfg.patience:
            break
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(cfg, step, 1 - task.time_left() / task.budget_s)
        loss = F.cross_entropy(model(ids, padding_mask), labels, label_smoothing=cfg.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            task.log(step, loss.item())
        if (step + 1) % cfg.eval_every == 0:
            # Keep the weights that did best on validation: accuracy peaks after a few
            # epochs and then the model starts memorising the training sentences.
            val_acc = accuracy(model, task.validation_batches(256))
            task.log(step, loss.item(), val_acc=val_acc)
            if val_acc > best_acc:
                best_acc, best_state, stale = val_acc, copy.deepcopy(model.state_dict()), 0
            else:
                stale += 1
    if best_state is not None:
        model.load_state_dict(best_state)
