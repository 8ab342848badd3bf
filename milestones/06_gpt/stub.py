"""Milestone 6: GPT, a causal language model over characters.

Fill in every place that raises NotImplementedError, then run
`challenge train gpt` and `challenge test gpt`.
Copy your LayerNorm, MultiHeadAttention and TransformerBlock from milestones 1-3
into this file: the harness loads this file alone.

Shapes: B = batch, T = sequence length (<= spec["block_size"]), D = d_model, V = vocab_size.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- your blocks from milestones 1-3 go here ------------------------------------


# --- the language model -----------------------------------------------------------


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int  # longest context; your position embedding needs this many rows
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.0


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        raise NotImplementedError(
            "TODO(gpt): token and position embeddings, your blocks, a causal mask, a LayerNorm and a head"
        )

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: (B, T) int64, T <= block_size. Returns logits (B, T, V), where logits[:, t]
        may depend on ids[:, :t + 1] only."""
        raise NotImplementedError("TODO(gpt): embed, run the blocks with the causal mask, project onto the vocabulary")


def build_model(spec: dict) -> nn.Module:
    """Called by the harness (also to build the untrained baseline).
    spec holds vocab_size, block_size, pad_id and unk_id."""
    raise NotImplementedError("TODO(gpt): return GPT(GPTConfig(...)) from the spec")


@torch.no_grad()
def generate(model: nn.Module, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding: append the most likely next token max_new_tokens times.
    ids: (B, T) -> (B, T + max_new_tokens). Optional: the harness shows samples when it exists."""
    raise NotImplementedError("TODO(gpt): crop the context to block_size, take the argmax of the last logits, append")


# --- training ---------------------------------------------------------------------


def train(model: nn.Module, task) -> None:
    """Train ``model`` in place until ``task.should_stop()``; the harness saves it afterwards.

    task.batches(batch_size)             endless windows (B, block_size + 1), already on task.device
    task.validation_batches(batch_size)  one pass over the validation split, same layout
    task.should_stop(), task.time_left(), task.log(step, loss, **metrics), task.seed, task.device
    """
    raise NotImplementedError(
        "TODO(gpt): inputs = windows[:, :-1], targets = windows[:, 1:], cross-entropy, a step; "
        "stop when task.should_stop() is True"
    )
