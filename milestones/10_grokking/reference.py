"""Reference solution for bonus milestone 10 (shown by `challenge peek grokking`).

Grokking on modular addition, after Power et al. 2022 ("Grokking: generalization
beyond overfitting on small algorithmic datasets") and Nanda et al. 2023
("Progress measures for grokking via mechanistic interpretability"), whose
setup this follows: one attention layer and a ReLU MLP without LayerNorm,
inputs [x, y, =], full-batch AdamW with weight decay 1.0. With p = 59 and half
of the pairs for training it memorises them by step ~140 (validation accuracy
~40%), reaches 95% on the validation pairs at step ~840 and 99.5% at ~1,100,
and stops itself 100 steps later.

Shapes: B = batch, T = 3 tokens, D = d_model, H = n_heads, P = p (answers).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- the model ----------------------------------------------------------------------


@dataclass
class GrokConfig:
    vocab_size: int  # p + 1: the numbers 0..p-1 and "="
    p: int  # the answers are 0..p-1
    seq_len: int = 3  # [x, y, =]
    d_model: int = 128  # Nanda et al.'s sizes; smaller widths grok later, if at all within the budget
    n_heads: int = 4
    d_mlp: int = 512
    init_std: float = 0.0884  # 1/sqrt(d_model): small embeddings, so weight decay has less to undo


class Attention(nn.Module):
    """Multi-head self-attention without a mask: the "=" position reads x and y."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x):
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in self.qkv(x).split(D, -1))
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.d_head), dim=-1)  # (B, H, T, T)
        return self.out((weights @ v).transpose(1, 2).reshape(B, T, D))  # (B, T, D)


class ModularTransformer(nn.Module):
    """Embed tokens and positions, one attention layer and one ReLU MLP with residuals
    (no LayerNorm), then unembed the "=" position onto the p answers. The MLP runs at "="
    only: the other positions' outputs would feed nothing (3x less work, same model)."""

    def __init__(self, config: GrokConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.seq_len, config.d_model)
        self.attn = Attention(config.d_model, config.n_heads)
        self.mlp = nn.Sequential(nn.Linear(config.d_model, config.d_mlp), nn.ReLU(),
                                 nn.Linear(config.d_mlp, config.d_model))
        self.unembed = nn.Linear(config.d_model, config.p, bias=False)
        for emb in (self.tok_emb, self.pos_emb):
            nn.init.normal_(emb.weight, std=config.init_std)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: (B, 3) rows [x, y, =]. Returns logits (B, p) for (x + y) mod p."""
        T = ids.shape[1]
        x = self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device))  # (B, T, D)
        x = x + self.attn(x)
        h = x[:, -1]  # (B, D): the answer is read at "="; in one layer no other position's MLP output reaches it
        h = h + self.mlp(h)
        return self.unembed(h)  # (B, P)


def build_model(spec: dict) -> nn.Module:
    return ModularTransformer(GrokConfig(vocab_size=spec["vocab_size"], p=spec["p"], seq_len=spec["seq_len"]))


# --- training ---------------------------------------------------------------------


@dataclass
class TrainConfig:
    lr: float = 1e-3
    weight_decay: float = 1.0  # strong decay is what makes the memorising solution lose to the general one
    betas: tuple = (0.9, 0.98)
    warmup_steps: int = 10
    log_every: int = 10  # steps; each log evaluates the validation pairs (one forward pass)
    done_after: int = 100  # steps at >= 99.5% validation accuracy before we call it grokked and stop early


@torch.no_grad()
def accuracy(model: nn.Module, ids: torch.Tensor, labels: torch.Tensor) -> float:
    was_training = model.training
    model.eval()
    correct = (model(ids).argmax(-1) == labels).float().mean().item()
    model.train(was_training)
    return correct


def train(model: nn.Module, task) -> None:
    cfg = TrainConfig()
    torch.manual_seed(task.seed)
    model.to(task.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=cfg.betas)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / cfg.warmup_steps))
    val_ids, _, val_labels = next(task.validation_batches(task.spec["n_validation"]))  # every held-out pair at once
    grokked_since, loss = None, None
    for step, (ids, _, labels) in enumerate(task.batches(task.spec["n_train"])):  # full batch: every training pair
        if task.should_stop():
            break
        logits = model(ids)  # (B, P)
        loss = F.cross_entropy(logits.double(), labels)  # float64: the loss gets tiny once memorised
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        warmup.step()
        if step % cfg.log_every == 0:
            train_acc = (logits.argmax(-1) == labels).float().mean().item()
            val_acc = accuracy(model, val_ids, val_labels)
            task.log(step, loss.item(), train_acc=train_acc, val_acc=val_acc)
            grokked_since = (grokked_since if grokked_since is not None else step) if val_acc >= 0.995 else None
            if grokked_since is not None and step - grokked_since >= cfg.done_after:
                return
    if loss is not None:  # stopped by the budget: log the model as it is saved, so the log describes the checkpoint
        task.log(step, loss.item(), train_acc=accuracy(model, ids, labels),
                 val_acc=accuracy(model, val_ids, val_labels))
