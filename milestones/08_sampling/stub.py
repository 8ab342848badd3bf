"""Bonus milestone 8: sampling and beam search.

Fill in every place that raises NotImplementedError. Run `challenge test sampling`.
Everything here works on any causal language model `model(ids) -> logits`,
your GPT from milestone 6 included; the tests use small models of their own.

Shapes: B = batch, T = sequence length, V = vocabulary size, W = beam width.
"""

import torch


def sample_next(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row. logits: (B, V). Returns (B,) int64 token ids.

    temperature == 0: greedy, the argmax of each row (top_k and top_p are then ignored).
    Otherwise, in this order: divide the logits by temperature; keep only the top_k most likely
    tokens (None: all); keep the smallest set of most likely tokens whose total probability
    reaches top_p (None: all), the token that crosses top_p included; renormalise; draw one
    token per row with `generator`.
    """
    raise NotImplementedError("TODO(sampling): greedy, temperature, top-k, top-p, then draw with the generator")


@torch.no_grad()
def generate(model, ids: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Append max_new_tokens tokens, each drawn by sample_next from the logits at the last position.
    model(ids) maps (B, T) to logits (B, T, V). ids: (B, T) -> returns (B, T + max_new_tokens)."""
    raise NotImplementedError("TODO(sampling): call the model, sample the next token, append it, repeat")


@torch.no_grad()
def beam_search(model, ids: torch.Tensor, *, beam_width: int, max_new_tokens: int) -> tuple[torch.Tensor, float]:
    """Beam search for the most likely continuation of ids (1, T).

    At every step, extend each beam by every token, score each candidate by its total
    log-probability (the beam's total plus log_softmax of the next-token logits), and keep the
    beam_width best candidates (all of them if there are fewer). After max_new_tokens steps
    return the best beam: (tokens (1, T + max_new_tokens), the sum of its new tokens'
    log-probabilities as a float).
    """
    raise NotImplementedError("TODO(sampling): expand every beam by every token, keep the beam_width best")
