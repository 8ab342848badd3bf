"""Bonus milestone 11: a transformer programmed by hand (RASP / tracr style).

Fill in every place that raises NotImplementedError. Run `challenge test hand_coded`.
Copy LayerNorm and TransformerBlock (and the MultiHeadAttention it uses) from your
milestone 3 block.py into this file: the harness grades this file alone, and your
block must still match nn.TransformerEncoderLayer.

No training: every weight is written by your build_* functions. Computing
gradients anywhere (.backward(), torch.autograd.grad, torch.func, so any
torch.optim fit) fails the tests.

The programs' inputs and outputs (README.md has the details):
- ids (B, T): ids[:, 0] = BOS = 0, ids[:, 1:] in 1..4 (a, b, c, d); T = L + 1 with 1 <= L <= 5.
  A batch holds inputs of one length: no padding, no masks.
- model(ids) -> logits (B, T, V_out); the argmax at positions 1..L is the answer
  (position 0, BOS, is not graded).
  reverse:   V_out = 5 (ids),        "abcd" -> "dcba"
  histogram: V_out = 6 (counts 0-5), "abca" -> 2, 1, 1, 2
  sort:      V_out = 5 (ids),        "dbca" -> "abcd", "baba" -> "aabb"
- model.embed(ids) -> (B, T, D): token and position embeddings only;
  model.blocks: nn.ModuleList of your TransformerBlock, each called as block(h);
  model.unembed(h) -> (B, T, V_out), position by position;
  forward(ids) = unembed(blocks[-1](... blocks[0](embed(ids)))).
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BOS, N_TOKENS, MAX_LEN = 0, 4, 5
VOCAB = 1 + N_TOKENS  # ids 0..4: BOS, a, b, c, d
N_POS = MAX_LEN + 1  # positions 0..5, BOS at 0


# -- your milestone 3 block ---------------------------------------------------------------------

class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        raise NotImplementedError("TODO(hand_coded): copy your LayerNorm from milestone 3")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError("TODO(hand_coded): copy your LayerNorm from milestone 3")


class TransformerBlock(nn.Module):
    """Milestone 3's block: equivalent to nn.TransformerEncoderLayer(batch_first=True)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float = 0.0, activation: str = "relu",
                 norm_first: bool = False, layer_norm_eps: float = 1e-5, bias: bool = True):
        super().__init__()
        raise NotImplementedError("TODO(hand_coded): copy your TransformerBlock from milestone 3")

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError("TODO(hand_coded): copy your TransformerBlock from milestone 3")

    @torch.no_grad()
    def load_torch_weights(self, layer: nn.TransformerEncoderLayer) -> None:
        raise NotImplementedError("TODO(hand_coded): copy your TransformerBlock from milestone 3")


# -- the frame every program uses (change it if you like, keep embed / blocks / unembed) -----------

class Program(nn.Module):
    """embed -> blocks -> unembed. The embedding sees one token and its position, the unembedding
    one position: everything that moves information between positions happens in your blocks."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, n_blocks: int, vocab_out: int,
                 norm_first: bool = True):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, d_model)
        self.pos_emb = nn.Embedding(N_POS, d_model)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, n_heads, d_ff, norm_first=norm_first)
                                    for _ in range(n_blocks))
        self.readout = nn.Linear(d_model, vocab_out)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:  # (B, T) -> (B, T, D)
        return self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[1], device=ids.device))

    def unembed(self, h: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, T, vocab_out)
        return self.readout(h)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.embed(ids)
        for block in self.blocks:
            h = block(h)
        return self.unembed(h)


# -- the programs: write every weight yourself (under torch.no_grad(), with copy_ / fill_ / zero_) ---

def build_reverse() -> nn.Module:
    """reverse: position i (1..L) outputs the token at position L + 1 - i."""
    raise NotImplementedError("TODO(hand_coded): find the length, then fetch position L + 1 - i")


def build_histogram() -> nn.Module:
    """histogram: position i outputs how many times its token occurs in the whole input (1..5)."""
    raise NotImplementedError("TODO(hand_coded): count the occurrences of each position's token")


def build_sort() -> nn.Module:
    """sort: position p outputs the p-th smallest token, repeated tokens included ("baba" -> "aabb")."""
    raise NotImplementedError("TODO(hand_coded): give each token its place in the sorted order, then fetch")
