"""Bonus milestone 10: grokking modular addition.

Fill in every place that raises NotImplementedError, then run
`challenge train grokking` (look at curves.png beside the checkpoint) and
`challenge test grokking`.

A row is [x, y, =] with x, y in 0..p-1 and "=" = p; the answer is (x + y) mod p.
You may copy your attention from milestones 1-2 into this file (the harness
loads this file alone), or use nn.MultiheadAttention once milestone 2 has passed.

Shapes: B = batch, T = 3 tokens, D = d_model, P = p (the answers).
"""

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
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512


class ModularTransformer(nn.Module):
    def __init__(self, config: GrokConfig):
        super().__init__()
        self.config = config
        raise NotImplementedError(
            "TODO(grokking): token and position embeddings, one attention layer, a ReLU MLP (residuals, "
            "no LayerNorm needed) and an unembedding onto the p answers"
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: (B, 3) int64 rows [x, y, =]. Returns logits (B, p) for (x + y) mod p."""
        raise NotImplementedError("TODO(grokking): embed, attend, MLP, and read the logits at the '=' position")


def build_model(spec: dict) -> nn.Module:
    """Called by the harness (also to load your checkpoint).
    spec holds p, vocab_size (p + 1), eq_id (p), seq_len (3), n_classes (p), n_train and n_validation."""
    raise NotImplementedError("TODO(grokking): return ModularTransformer(GrokConfig(...)) from the spec")


# --- training ---------------------------------------------------------------------


def train(model: nn.Module, task) -> None:
    """Train ``model`` in place until it has grokked or ``task.should_stop()``; the harness saves it.

    task.batches(task.spec["n_train"])                  endless full batches (ids (B, 3), padding_mask, labels (B,))
    task.validation_batches(task.spec["n_validation"])  one batch of every validation pair, same layout
    task.log(step, loss, train_acc=..., val_acc=...)   the curves and the evidence of the delay: log both, often
    task.should_stop(), task.time_left(), task.seed, task.device
    """
    raise NotImplementedError(
        "TODO(grokking): full-batch AdamW with weight_decay=1.0, cross-entropy on the labels, log train_acc and "
        "val_acc every few steps; stop when task.should_stop() is True or once val_acc has stayed high"
    )
