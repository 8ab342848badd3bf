"""Bonus milestone 9: a key/value cache for your GPT.

Fill in every place that raises NotImplementedError. Run `challenge test kv_cache`.
Start from your GPT of milestone 6 (paste it, with its blocks, into this file: the
harness loads this file alone), then give attention a cache. No training here:
the tests build your model from the spec and draw its weights at random.

Shapes: B = batch, T = new tokens, P = cached tokens, D = d_model, H = n_heads,
d = D // H, V = vocab_size.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn

# --- your blocks from milestone 6 go here; attention takes and returns (k, v) --------


# --- the language model -----------------------------------------------------------


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int  # longest context, cached tokens included
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.0


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        raise NotImplementedError("TODO(kv_cache): your GPT of milestone 6 (embeddings, blocks, causal mask, head)")

    def forward(self, ids: torch.Tensor, cache: list | None = None):
        """ids: (B, T) int64, the new tokens.
        cache: None, or what the previous call returned: a list with one (k, v) per layer, each
        (B, H, P, d), holding the keys and values of the P tokens before ids (P + T <= block_size).
        Returns (logits (B, T, V), cache) where the returned cache covers all P + T tokens."""
        raise NotImplementedError(
            "TODO(kv_cache): positions P..P+T-1, attend to cached + new keys (mask rows P..P+T-1), return the cache"
        )


def build_model(spec: dict) -> nn.Module:
    """Called by the harness. spec holds vocab_size, block_size, pad_id and unk_id."""
    raise NotImplementedError("TODO(kv_cache): return GPT(GPTConfig(...)) from the spec")


@torch.no_grad()
def generate_cached(model: nn.Module, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding with the cache: the prompt goes through the model once, then only the
    newest token with the cache. ids: (B, T) -> (B, T + max_new_tokens)."""
    raise NotImplementedError("TODO(kv_cache): prompt once, then one token per step with the cache")
