"""Bonus milestone 7: what does your GPT attend to?

1. Paste your GPT from milestone 6 (gpt.py) below: the same classes and parameter
   names, so that `challenge viz` can load your trained checkpoint into
   build_model(spec). You don't need train() or generate() here.
2. Give MultiHeadAttention a need_weights flag (below), thread it through your
   blocks and GPT.forward.
3. Write attention_patterns(model, ids).

Run `challenge test attention_viz`, then
`challenge viz attention_viz --text "Oil prices rose on Monday"`.
The harness loads this file alone.

Shapes: B = batch, T = sequence length, D = d_model, H = n_heads, L = n_layers, V = vocab_size.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    """Milestone 2's interface plus need_weights."""

    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        assert d_model % n_heads == 0, "d_model must be divisible by n_heads"
        self.d_model, self.n_heads, self.d_head = d_model, n_heads, d_model // n_heads
        raise NotImplementedError("TODO(attention_viz): your projections from milestone 2 (or 6)")

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ):
        """Self-attention over x, as in milestone 2.

        x: (B, T, D); mask: optional bool (T, T) or (B, T, T), True = may attend;
        key_padding_mask: optional bool (B, T), True = padding.
        Returns (B, T, D); with need_weights=True returns (output (B, T, D), weights (B, H, T, T)):
        weights[b, h, i, j] is how much query i attends to key j in head h (each row sums to 1).
        """
        raise NotImplementedError("TODO(attention_viz): your attention, returning (out, weights) on request")

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> None:
        """Copy the weights of nn.MultiheadAttention(d_model, n_heads, batch_first=True)."""
        raise NotImplementedError("TODO(attention_viz): as in milestone 2")


# --- your GPT from milestone 6 goes here (LayerNorm, blocks, GPTConfig, GPT) --------------
# GPT.forward(ids, need_weights=False) returns logits (B, T, V); with need_weights=True it
# returns (logits, weights): one (B, H, T, T) tensor per layer, first layer first.


def build_model(spec: dict) -> nn.Module:
    """The same model as gpt.py's build_model: your checkpoint must load into it."""
    raise NotImplementedError("TODO(attention_viz): return your GPT, as in gpt.py")


@torch.no_grad()
def attention_patterns(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Per-head attention weights of every layer of ``model`` for ids (B, T) int64.

    Returns (L, B, H, T, T): patterns[l, b, h, i, j] is how much query i attends to key j
    in head h of layer l (layer 0 first). Use evaluation mode: dropout off.
    """
    raise NotImplementedError("TODO(attention_viz): model.eval(), run model(ids, need_weights=True), stack the layers")
