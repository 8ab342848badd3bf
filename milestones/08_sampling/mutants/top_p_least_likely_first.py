"""Mutant: top-p sorts ascending and keeps the least likely tokens that sum to top_p."""

EXPECT = 'least likely first'

import torch


def filter_logits(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """(B, V) logits -> (B, V) logits scaled by 1/temperature, with -inf where a token is filtered out."""
    logits = logits / temperature  # T < 1 sharpens, T > 1 flattens
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1): the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1)  # BUG: least likely first
        cumulative = sorted_logits.softmax(-1).cumsum(-1)  # (B, V)
        # Keep the smallest prefix whose probability reaches top_p: a token is dropped when the
        # tokens before it already reach top_p. The token that crosses top_p is kept.
        drop_sorted = cumulative > top_p
        drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample_next(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row. logits: (B, V). Returns (B,) int64.
    temperature == 0 means greedy: the argmax, whatever top_k and top_p say."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    probs = filter_logits(logits, temperature=temperature, top_k=top_k, top_p=top_p).softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(-1)  # (B,)


@torch.no_grad()
def generate(model, ids: torch.Tensor, max_new_tokens: int, *, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """Append max_new_tokens sampled tokens. ids: (B, T) -> (B, T + max_new_tokens)."""
    for _ in range(max_new_tokens):
        logits = model(ids)[:, -1]  # (B, V): the prediction for the next position
        next_id = sample_next(logits, temperature=temperature, top_k=top_k, top_p=top_p, generator=generator)
        ids = torch.cat([ids, next_id[:, None]], dim=1)  # feed the new token back in
    return ids


@torch.no_grad()
def beam_search(model, ids: torch.Tensor, *, beam_width: int, max_new_tokens: int) -> tuple[torch.Tensor, float]:
    """The most likely continuation that beam search finds. ids: (1, T).
    Returns (tokens (1, T + max_new_tokens), the sum of the log-probabilities of the new tokens)."""
    beams = ids  # (W, T'): every beam shares the prompt; one beam to start with
    scores = torch.zeros(1, dtype=torch.float64)  # (W,) total log-probability of each beam
    for _ in range(max_new_tokens):
        log_probs = model(beams)[:, -1].double().log_softmax(-1)  # (W, V)
        candidates = (scores[:, None] + log_probs).flatten()  # (W * V,): every beam extended by every token
        scores, index = candidates.topk(min(beam_width, candidates.numel()))  # best first
        vocab = log_probs.shape[-1]
        parent, token = index // vocab, index % vocab  # which beam, which token
        beams = torch.cat([beams[parent], token[:, None]], dim=1)
    return beams[:1], float(scores[0])
