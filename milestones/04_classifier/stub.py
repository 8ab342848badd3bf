"""Milestone 4: a transformer text classifier (sentence polarity).

Fill in every place that raises NotImplementedError, then run
`challenge train classifier` and `challenge test classifier`.
Copy your LayerNorm, MultiHeadAttention and TransformerBlock from milestones 1-3
into this file: the harness loads this file alone.

Shapes: B = batch, T = sequence length (<= spec["max_len"]), D = d_model.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- your blocks from milestones 1-3 go here ------------------------------------


# --- the classifier -----------------------------------------------------------------


@dataclass
class ClassifierConfig:
    vocab_size: int
    n_classes: int
    max_len: int  # longest input; your position embedding needs this many rows
    pad_id: int = 0
    d_model: int = 64  # small models train best within a CPU budget
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 256
    dropout: float = 0.2  # 8.5k training sentences are memorised quickly


class Classifier(nn.Module):
    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        raise NotImplementedError(
            "TODO(classifier): token and position embeddings, your blocks, a LayerNorm and a linear head"
        )

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """ids: (B, T) int64; padding_mask: (B, T) bool, True = padding.
        Returns logits (B, n_classes). Padding must not change the result."""
        raise NotImplementedError(
            "TODO(classifier): embed, run the blocks with the padding mask, pool over the real tokens, classify"
        )


def build_model(spec: dict) -> nn.Module:
    """Called by the harness (also to build the untrained baseline). spec holds
    vocab_size, n_classes, max_len, pad_id, unk_id, cls_id and label_names."""
    raise NotImplementedError("TODO(classifier): return Classifier(ClassifierConfig(...)) from the spec")


# --- training ---------------------------------------------------------------------


def train(model: nn.Module, task) -> None:
    """Train ``model`` in place until ``task.should_stop()``; the harness saves it afterwards.

    task.batches(batch_size)             endless (ids, padding_mask, labels), already on task.device
    task.validation_batches(batch_size)  one pass over the validation split, same layout
    task.should_stop(), task.time_left(), task.log(step, loss, **metrics), task.seed, task.device
    """
    raise NotImplementedError(
        "TODO(classifier): model.to(task.device).train(), an optimizer, and a loop over task.batches(...) "
        "that stops when task.should_stop() is True"
    )
