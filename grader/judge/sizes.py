"""What a GPT's sizes imply, computed by the judge: parameter counts from the
model's own parameter list (as ``Remote.parameters()`` reports it, built in the
sandbox), forward FLOPs per token and KV-cache bytes from the sizes.

The conventions, also stated in the Hilton milestone's README:

- parameters: every parameter tensor once (``model.parameters()`` skips a tied
  head, which *is* the token embedding);
- non-embedding parameters: all of them except the token embedding
  (vocab_size x d_model) and a learned position embedding (block_size x
  d_model), found by shape; an untied head stays in (it is a matmul);
- forward FLOPs per token (Kaplan et al. 2020, "Scaling laws for neural language
  models", table 1): ``2 N + 2 n_layers context_len d_model``, a multiply-add
  being 2 FLOPs per weight, plus the scores and the weighted sum over
  ``context_len`` keys in every layer; accepted within ``FLOPS_TOLERANCE``
  (biases, LayerNorm and the de-embedding are a few percent at the sizes asked);
- KV-cache bytes: ``2 (K and V) x n_layers x batch x context_len x d_model x
  bytes per element``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

FLOPS_TOLERANCE = 0.05  # relative
BYTES_PER_ELEMENT = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}

Parameter = tuple[str, Sequence[int], str]  # (name, shape, dtype), as Remote.parameters() gives them


@dataclass(frozen=True)
class Counted:
    total: int
    token_embedding: int  # numel of the (vocab_size, d_model) table, 0 if none
    position_embedding: int  # numel of the (block_size, d_model) table, 0 if none (sinusoidal, rotary)
    groups: tuple[tuple[str, int], ...]  # (top-level module, parameters), in the model's order

    @property
    def non_embedding(self) -> int:
        return self.total - self.token_embedding - self.position_embedding


def count(parameters: Sequence[Parameter], *, vocab_size: int, block_size: int, d_model: int) -> Counted:
    """Totals of a parameter list; the embedding tables are recognised by their shapes."""
    total, groups = 0, {}
    token = position = 0
    for name, shape, _dtype in parameters:
        numel = math.prod(int(s) for s in shape)
        total += numel
        groups[_group(str(name))] = groups.get(_group(str(name)), 0) + numel
        if not token and list(shape) == [vocab_size, d_model]:
            token = numel
        elif not position and list(shape) == [block_size, d_model]:
            position = numel
    return Counted(total, token, position, tuple(groups.items()))


def _group(name: str) -> str:
    """'blocks.0.attn.qkv.weight' -> 'blocks.0'; 'tok_emb.weight' -> 'tok_emb'."""
    parts = name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 and parts[1].isdigit() else parts[0]


def describe_groups(counted: Counted, *, limit: int = 12) -> str:
    """'tok_emb 2,176; pos_emb 2,048; blocks.0-3 197,760 each; norm 256' (equal layers in a row merged)."""
    merged: list[list] = []  # [stem, first index, last index, parameters] or [name, None, None, parameters]
    for name, numel in counted.groups:
        stem, _, index = name.rpartition(".")
        last = merged[-1] if merged else None
        if stem and index.isdigit() and last and last[0] == stem and last[3] == numel and last[2] == int(index) - 1:
            last[2] = int(index)
        elif stem and index.isdigit():
            merged.append([stem, int(index), int(index), numel])
        else:
            merged.append([name, None, None, numel])
    parts = [f"{stem} {numel:,}" if first is None else
             f"{stem}.{first} {numel:,}" if first == last else f"{stem}.{first}-{last} {numel:,} each"
             for stem, first, last, numel in merged[:limit]]
    return "; ".join(parts) + ("; ..." if len(merged) > limit else "")


def forward_flops(non_embedding: int, *, n_layers: int, context_len: int, d_model: int) -> int:
    return 2 * non_embedding + attention_flops(n_layers=n_layers, context_len=context_len, d_model=d_model)


def attention_flops(*, n_layers: int, context_len: int, d_model: int) -> int:
    return 2 * n_layers * context_len * d_model


def kv_cache_bytes(*, n_layers: int, batch_size: int, context_len: int, d_model: int, dtype: str) -> int:
    return 2 * n_layers * batch_size * context_len * d_model * BYTES_PER_ELEMENT[dtype]


def relative_error(got: float, expected: float) -> float:
    return abs(got - expected) / abs(expected) if expected else math.inf
