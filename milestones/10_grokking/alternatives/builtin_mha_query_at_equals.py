"""Alternative: nn.MultiheadAttention (allowed once milestone 2 has passed) queried from "=" only (one query,
three keys: no mask needed), learned positions as a Parameter, a GELU MLP, no warm-up, a validation loop
over task.validation_batches in chunks of 512 and a log every 25 steps."""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    vocab_size: int
    p: int
    seq_len: int = 3
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512


class Grokker(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.d_model)
        self.positions = nn.Parameter(torch.randn(config.seq_len, config.d_model) / config.d_model ** 0.5)
        nn.init.normal_(self.embed.weight, std=config.d_model ** -0.5)
        self.attention = nn.MultiheadAttention(config.d_model, config.n_heads, bias=False, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(config.d_model, config.d_mlp), nn.GELU(),
                                 nn.Linear(config.d_mlp, config.d_model))
        self.head = nn.Linear(config.d_model, config.p, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        T = ids.shape[1]
        h = self.embed(ids) + self.positions[:T]  # (B, T, D)
        query = h[:, -1:]  # (B, 1, D): only "=" is read out
        h = query + self.attention(query, h, h, need_weights=False)[0]  # (B, 1, D)
        h = h + self.mlp(h)
        return self.head(h[:, 0])  # (B, p)


def build_model(spec: dict) -> nn.Module:
    return Grokker(Config(vocab_size=spec["vocab_size"], p=spec["p"], seq_len=spec["seq_len"]))


@torch.no_grad()
def evaluate(model: nn.Module, task) -> float:
    model.eval()
    correct = total = 0
    for ids, _, labels in task.validation_batches(512):
        correct += int((model(ids).argmax(-1) == labels).sum())
        total += len(labels)
    model.train()
    return correct / total


def train(model: nn.Module, task) -> None:
    torch.manual_seed(task.seed)
    model.to(task.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1.0, betas=(0.9, 0.98))
    high_since = None
    step = 0
    for ids, _, labels in task.batches(task.spec["n_train"]):
        logits = model(ids)
        loss = F.cross_entropy(logits.to(torch.float64), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        stop = task.should_stop()
        if step % 25 == 0 or stop:
            val_acc = evaluate(model, task)
            task.log(step, loss.item(), train_acc=float((logits.argmax(-1) == labels).float().mean()), val_acc=val_acc)
            high_since = (step if high_since is None else high_since) if val_acc >= 0.995 else None
            if stop or (high_since is not None and step - high_since >= 250):
                return
        step += 1
