"""Hidden tests for bonus milestone 8, beam search: on bigram language models
(``nn.Embedding(V, V)`` shipped into the worker, ``model(ids)`` (B, T) -> (B, T, V)),
against the judge's own beam search, brute-force enumeration of every
continuation, and greedy decoding. The log-probability the learner reports is
checked against the one the judge computes for the tokens returned."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from grader.judge.compare import GradingFailure, describe_value
from grader.judge.support import bigram_model, randint, separated_table




# -- the judge's beam search -----------------------------------------------------------------------------------------

BEAM_MISTAKES = {
    "one-beam": "Your result is what greedy decoding finds: does the search keep beam_width beams, not only the "
                "best one?",
    "not-accumulated": "Beams were ranked by the last token's log-probability alone: add each step's log-probability "
                       "to the beam's running total.",
    "raw-logits": "Beams were ranked by summed raw logits: use log-probabilities (logits.log_softmax(-1)), which "
                  "are comparable across beams.",
}


def judge_beam(table: torch.Tensor, last: int, width: int, steps: int, mistake: str | None = None):
    """Beam search over the bigram table: (new tokens, smallest gap between a kept and a dropped
    candidate or between the best two final beams)."""
    logp = (table if mistake == "raw-logits" else table.log_softmax(-1)).tolist()
    width = 1 if mistake == "one-beam" else width
    beams, gaps = [((), 0.0)], []
    for _ in range(steps):
        candidates = []
        for tokens, score in beams:
            prev = tokens[-1] if tokens else last
            for token, lp in enumerate(logp[prev]):
                candidates.append((tokens + (token,), lp + (0.0 if mistake == "not-accumulated" else score)))
        candidates.sort(key=lambda c: -c[1])
        if len(candidates) > width:
            gaps.append(candidates[width - 1][1] - candidates[width][1])
        beams = candidates[:width]
    if len(beams) > 1:
        gaps.append(beams[0][1] - beams[1][1])
    return beams[0][0], min(gaps, default=math.inf)


def log_prob(table: torch.Tensor, last: int, tokens) -> float:
    logp = table.log_softmax(-1).tolist()
    total, prev = 0.0, last
    for token in tokens:
        total, prev = total + logp[prev][token], token
    return total


def exhaustive(table: torch.Tensor, last: int, steps: int) -> list[tuple[float, tuple[int, ...]]]:
    """Every continuation of ``steps`` tokens with its log-probability, best first (brute force)."""
    logp = table.log_softmax(-1).tolist()
    scored = []
    for tokens in itertools.product(range(table.shape[0]), repeat=steps):
        total, prev = 0.0, last
        for token in tokens:
            total, prev = total + logp[prev][token], token
        scored.append((total, tokens))
    return sorted(scored, reverse=True)


def exhaustive_best(table: torch.Tensor, last: int, steps: int) -> tuple[int, ...]:
    return exhaustive(table, last, steps)[0][1]


def describe_tokens(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {tuple(value.shape)}"
    return describe_value(value)


def run_beam(learner, table, ids, width, steps):
    """The learner's new tokens (validated), the log-probability it reported, and the call in words."""
    got = learner.function("beam_search")(bigram_model(learner, table), ids, beam_width=width, max_new_tokens=steps)
    what = f"beam_search(model, ids {ids.tolist()}, beam_width={width}, max_new_tokens={steps})"
    if not isinstance(got, (list, tuple)) or len(got) != 2:
        raise GradingFailure(f"{what} returned {describe_value(got)}; expected (tokens, log_prob).",
                             "Return a pair: the tokens (1, T + max_new_tokens) and the sum of the new tokens' "
                             "log-probabilities.")
    tokens = got[0]
    if isinstance(tokens, torch.Tensor) and tokens.dim() == 2 and tokens.shape[1] == steps:
        raise GradingFailure(f"{what} returned tokens of shape {tuple(tokens.shape)}, expected "
                             f"{(1, ids.shape[1] + steps)}.",
                             "Return the prompt followed by the new tokens, not the new tokens alone.")
    shape = (1, ids.shape[1] + steps)
    if not isinstance(tokens, torch.Tensor) or tuple(tokens.shape) != shape or tokens.dtype.is_floating_point:
        raise GradingFailure(f"{what} returned tokens as {describe_tokens(tokens)}, expected a LongTensor of shape "
                             f"{shape}.", "Return the prompt followed by the new tokens: (1, T + max_new_tokens).")
    if int(tokens.min()) < 0 or int(tokens.max()) >= table.shape[0]:
        raise GradingFailure(f"{what} returned token ids outside 0..{table.shape[0] - 1}.",
                             "A candidate's token is its index modulo the vocabulary size V, its beam the index // V.")
    if not torch.equal(tokens[:, :ids.shape[1]].long(), ids):
        raise GradingFailure(f"{what}: the returned tokens do not start with the prompt {ids.tolist()}.",
                             "Return the prompt followed by the new tokens.")
    new = tuple(tokens[0, ids.shape[1]:].long().tolist())
    return new, got[1], what


def check_score(table, ids, new, score, what) -> float:
    """The learner's reported log-probability must be that of the tokens it returned (computed here)."""
    if isinstance(score, torch.Tensor) and score.numel() == 1:
        score = float(score)
    if not isinstance(score, (int, float)):
        raise GradingFailure(f"{what} returned a log-probability of type {describe_value(score)}.",
                             "Return the total log-probability as a float (or a one-element tensor).")
    truth = log_prob(table, int(ids[0, -1]), new)
    if abs(float(score) - truth) > 1e-5:
        raise GradingFailure(f"{what}: the log-probability you returned, {float(score):.6f}, is not that of the tokens "
                             f"you returned ({truth:.6f}).",
                             "Return the sum of the log-probabilities (log_softmax) of the new tokens, each given the "
                             "tokens before it (the score of the returned beam).")
    return truth


def check_beam(learner, table, ids, width, steps, *, mistakes=(), hint=""):
    last = int(ids[0, -1])
    expected, _ = judge_beam(table, last, width, steps)
    got, reported, what = run_beam(learner, table, ids, width, steps)
    if got != expected:
        named = next((BEAM_MISTAKES[m] for m in mistakes if judge_beam(table, last, width, steps, m)[0] == got), "")
        raise GradingFailure(f"{what} on a bigram model: new tokens {list(got)} (log-prob "
                             f"{log_prob(table, last, got):.4f}), expected {list(expected)} (log-prob "
                             f"{log_prob(table, last, expected):.4f}).", named or hint)
    check_score(table, ids, got, reported, what)


def test_beam_width_one_is_greedy(learner, rng):
    """beam_width=1 gives the greedy continuation"""
    v, steps = randint(rng, 5, 8), randint(rng, 3, 5)
    table = separated_table(rng, v)
    ids = torch.randint(0, v, (1, randint(rng, 1, 3)), generator=rng)
    check_beam(learner, table, ids, 1, steps, mistakes=["raw-logits"],
               hint="With one beam, beam search keeps the single best continuation at every step: greedy decoding.")


def test_wide_beam_equals_exhaustive_search(learner, rng):
    """with beam_width = V^(n-1) nothing is pruned: the result is the best of all V^n continuations (brute force)"""
    v, steps = 4, 4
    while True:
        table = torch.randn(v, v, generator=rng, dtype=torch.float64) * 1.5
        ids = torch.randint(0, v, (1, 2), generator=rng)
        ranked = exhaustive(table, int(ids[0, -1]), steps)
        best = ranked[0][1]
        if ranked[0][0] - ranked[1][0] > 1e-6 and judge_beam(table, int(ids[0, -1]), 1, steps)[0] != best:
            break
    width = v ** (steps - 1)
    got, reported, what = run_beam(learner, table, ids, width, steps)
    if got != best:
        raise GradingFailure(
            f"{what}: new tokens {list(got)} (log-prob {log_prob(table, int(ids[0, -1]), got):.4f}), but enumerating all {v ** steps} continuations "
            f"finds {list(best)} (log-prob {log_prob(table, int(ids[0, -1]), best):.4f}).",
            "Keep the beam_width best of all (beam, token) candidates at each step, ranked by their total "
            "log-probability; with fewer candidates than beam_width keep them all.")
    check_score(table, ids, got, reported, what)


def test_beam_search_finds_what_greedy_misses(learner, rng):
    """beam_width=2 finds the better continuation behind a token that greedy decoding prefers"""
    v = 3
    probs = torch.tensor([[0.05, 0.5, 0.45], [0.34, 0.33, 0.33], [0.05, 0.05, 0.9]], dtype=torch.float64)
    perm = torch.randperm(v, generator=rng)  # the same trap under other token ids
    table = torch.empty(v, v, dtype=torch.float64)
    table[perm[:, None], perm[None, :]] = probs.log()
    ids = torch.tensor([[int(perm[0])]])
    check_beam(learner, table, ids, 2, 2, mistakes=["one-beam", "not-accumulated", "raw-logits"],
               hint="Greedy takes the 0.5 token, then finds only 0.34 after it (0.17 in all); keeping two beams finds "
                    "0.45 x 0.9 = 0.405.")


@pytest.mark.parametrize("width", [2, 3])
def test_beam_search_on_random_models(learner, rng, width):
    """beam search with beam_width 2 and 3 on random bigram models finds exactly what beam search should"""
    v, steps = 5, 4
    names = list(BEAM_MISTAKES)
    for _ in range(1000):
        table = torch.randn(v, v, generator=rng, dtype=torch.float64) * 1.5
        ids = torch.randint(0, v, (1, 2), generator=rng)
        last = int(ids[0, -1])
        expected, gap = judge_beam(table, last, width, steps)
        if gap > 1e-6 and all(judge_beam(table, last, width, steps, m)[0] != expected for m in names):
            break
    else:
        raise RuntimeError("harness error: no discriminating bigram table found")
    best = exhaustive_best(table, last, steps)
    assert log_prob(table, last, expected) <= log_prob(table, last, best) + 1e-12  # the judge's beam is sane
    check_beam(learner, table, ids, width, steps, mistakes=names,
               hint="At each step extend every beam by every token, add the token's log-probability to the beam's "
                    "total, and keep the beam_width best candidates overall.")
