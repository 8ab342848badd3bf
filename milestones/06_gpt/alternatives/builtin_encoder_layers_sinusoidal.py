"""Alternative: a stack of PyTorch's nn.TransformerEncoderLayer (pre-LN, GELU) run
with a float causal mask (-inf above the diagonal, from
nn.Transformer.generate_square_subsequent_mask), fixed sinusoidal positions instead
of learned ones, and an untied output head.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- positions -----------------------------------------------------------------------


def sinusoidal_positions(n: int, d_model: int) -> torch.Tensor:
    """(n, d_model): sin on even features, cos on odd ones."""
    position = torch.arange(n, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(n, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


# --- the language model, from PyTorch's encoder layers (allowed once milestone 3 is passed) --


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
        self.register_buffer("positions", sinusoidal_positions(config.block_size, config.d_model), persistent=False)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(config.d_model, config.n_heads, config.d_ff, config.dropout,
                                       activation="gelu", batch_first=True, norm_first=True)
            for _ in range(config.n_layers)
        )
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size)
        # -inf above the diagonal, 0 elsewhere: position t sees 0..t.
        self.register_buffer("causal", nn.Transformer.generate_square_subsequent_mask(config.block_size),
                             persistent=False)
        for module in self.modules():  # the embedding keeps PyTorch's N(0, 1): the head is untied
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: (B, T) int64 with T <= block_size. Returns logits (B, T, V)."""
        B, T = ids.shape
        x = self.tok_emb(ids) + self.positions[:T]  # (B, T, D), both of scale 1
        mask = self.causal[:T, :T]
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
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
        if task.should_stop():
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
