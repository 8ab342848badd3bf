"""Milestone 5: BERT, a masked language model.

Fill in every place that raises NotImplementedError, then run
`challenge train bert` and `challenge test bert`.
Copy your LayerNorm, MultiHeadAttention and TransformerBlock from milestones 1-3
into this file: the harness loads this file alone.

Shapes: B = batch, T = sequence length (<= spec["max_len"]), D = d_model, V = vocab_size.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- your blocks from milestones 1-3 go here ------------------------------------


# --- the masked language model ------------------------------------------------------


@dataclass
class BertConfig:
    vocab_size: int
    max_len: int  # longest input; your position embedding needs this many rows
    pad_id: int = 0
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 512
    dropout: float = 0.0


class BERT(nn.Module):
    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        raise NotImplementedError(
            "TODO(bert): token and position embeddings, your blocks, a LayerNorm and a head onto the vocabulary"
        )

    def forward(self, ids: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """ids: (B, T) int64; padding_mask: (B, T) bool, True = padding.
        Returns logits (B, T, V). Every position sees both sides; nobody attends to padding."""
        raise NotImplementedError("TODO(bert): embed, run the blocks with the padding mask (no causal mask), project")


def build_model(spec: dict) -> nn.Module:
    """Called by the harness (also to build the untrained baseline). spec holds vocab_size,
    max_len, pad_id, unk_id, cls_id, sep_id, mask_id, special_ids and mask_prob."""
    raise NotImplementedError("TODO(bert): return BERT(BertConfig(...)) from the spec")


def mask_tokens(
    ids: torch.Tensor,
    padding_mask: torch.Tensor,
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: list[int],
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's corruption of a batch. Pick 15% of the eligible positions (not padding and
    not in special_ids); of the picked ones, 80% become mask_id, 10% a random regular
    token (any id not in special_ids), 10% keep their token.

    Returns (inputs, labels), both (B, T) int64: labels hold the original id at the picked
    positions and -100 everywhere else. Do not modify ``ids``; draw every random number
    from ``generator`` so that a seed reproduces the masks."""
    raise NotImplementedError("TODO(bert): pick 15% of the eligible positions, then split them 80/10/10")


# --- training ---------------------------------------------------------------------


def train(model: nn.Module, task) -> None:
    """Train ``model`` in place until ``task.should_stop()``; the harness saves it afterwards.

    task.batches(batch_size)             endless (ids, padding_mask), already on task.device
    task.validation_batches(batch_size)  one pass over the validation split, same layout
    task.spec                            mask_id, vocab_size, special_ids for mask_tokens
    task.should_stop(), task.time_left(), task.log(step, loss, **metrics), task.seed, task.device
    """
    raise NotImplementedError(
        "TODO(bert): for each batch, mask_tokens(...), the loss on the picked positions only, a step; "
        "stop when task.should_stop() is True"
    )
