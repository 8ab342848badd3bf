"""Hidden tests for bonus milestone 8: greedy decoding, temperature, top-k and
top-p sampling (``sample_next`` and ``generate``).

The language model handed to ``generate`` is a bigram table
shipped into the worker: ``nn.Embedding(V, V)``, so ``model(ids)`` maps (B, T)
to logits (B, T, V) and the next token depends on the last one only. The judge
therefore knows every probability exactly: greedy decoding is checked token for
token, sampling by frequencies over 5,000 seeded draws (5 binomial standard errors per
token) and by exact support checks (a filtered-out token must never appear).
Beam search is in test_beam_search.py."""

from __future__ import annotations

import pytest
import torch

from grader.judge.compare import GradingFailure, Mistake, check_tensor, describe_value
from grader.judge.support import bigram_model, randint, separated_table
from grader.protocol import GeneratorSeed

DRAWS = 5000
SIGMAS = 5.0  # per token: a correct sampler fails a 16-token check about once in 100,000 runs
SEPARATION = 0.1  # a known mistake must move some probability by this much, or a case is redrawn


# -- the judge's own sampler: exact next-token distributions -----------------------------------------

def expected_probs(logits: torch.Tensor, *, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None, mistake: str | None = None) -> torch.Tensor:
    """(V,) float64: the distribution sample_next draws from (temperature > 0), or the one a known
    mistake draws from. Order: temperature, top-k, top-p on what top-k kept (README)."""
    z = logits.double().clone()
    if mistake == "multiplied":
        z = z * temperature
    elif mistake not in ("temperature-ignored", "temperature-last"):
        z = z / temperature
    steps = [("k", top_k), ("p", top_p)]
    if mistake == "top-p-first":
        steps.reverse()
    for kind, value in steps:
        if value is None:
            continue
        z = _top_k(z, value, mistake) if kind == "k" else _top_p(z, value, mistake)
    if mistake == "temperature-last":
        z = z / temperature
    if mistake == "batch-axis":  # softmax over identical rows: every token 1/N, renormalised per row
        return torch.where(torch.isfinite(z), 1.0, 0.0).double() / torch.isfinite(z).sum()
    probs = z.softmax(-1)
    if mistake == "probs-as-logits":
        probs = probs.softmax(-1)
    return probs


def _top_k(z: torch.Tensor, k: int, mistake: str | None) -> torch.Tensor:
    k = min(k + (1 if mistake == "k-plus-one" else 0), len(z))
    keep = z.topk(k, largest=mistake != "k-smallest").indices
    return torch.full_like(z, float("-inf")).index_copy(0, keep, z[keep])


def _top_p(z: torch.Tensor, p: float, mistake: str | None) -> torch.Tensor:
    probs = z.softmax(-1)
    if mistake == "vocabulary-order":
        order = torch.arange(len(z))
    else:
        order = probs.argsort(descending=mistake != "ascending")
    cumulative = probs[order].cumsum(0)
    if mistake in ("exclude-crossing", "ascending"):
        drop = cumulative > p
    else:
        drop = (cumulative - probs[order]) >= p
        drop[0] = False
    dropped = torch.zeros(len(z), dtype=torch.bool)
    dropped[order[drop]] = True
    return z.masked_fill(dropped, float("-inf"))


def distance(p: torch.Tensor, q: torch.Tensor) -> float:
    """How surely 5,000 draws tell q from p: the largest probability moved, or all of it when
    q puts mass where p has none."""
    if bool(((p == 0) & (q > 0.01)).any()) or bool(((q == 0) & (p > 0.01)).any()):
        return 1.0
    return float((p - q).abs().max())


MISTAKE_HINTS = {
    "multiplied": "The logits were multiplied by the temperature instead of divided: logits / temperature "
                  "(T < 1 sharpens, T > 1 flattens).",
    "temperature-ignored": "The temperature had no effect: divide the logits by it before the softmax.",
    "batch-axis": "Every token came out equally likely: a softmax over the wrong axis (dim=0, the batch axis) "
                  "instead of the vocabulary (dim=-1)?",
    "k-plus-one": "One token too many survived top-k: it keeps exactly the k most likely tokens (an off-by-one, "
                  "k + 1 kept?).",
    "k-smallest": "top-k kept the k least likely tokens: topk(k) returns the largest by default; keep those.",
    "exclude-crossing": "The token whose probability crosses top_p was dropped: the nucleus is the smallest set "
                        "whose total reaches top_p, so the token that crosses the threshold stays.",
    "vocabulary-order": "The cumulative sum was taken in vocabulary order: sort the probabilities (most likely "
                        "first) before summing them.",
    "ascending": "The cumulative sum ran from the least likely first: sort in descending order so the nucleus "
                 "holds the most likely tokens.",
    "probs-as-logits": "The filtered probabilities went through a softmax again (probabilities used as logits): "
                       "filtered-out tokens must get probability 0, e.g. logits of -inf before one softmax.",
    "top-p-first": "top-p was applied before top-k: the order is temperature, then top-k, then top-p on the "
                   "distribution top-k kept (renormalised).",
    "temperature-last": "The temperature was applied after filtering: divide by it first, so top-k and top-p see "
                        "the tempered distribution.",
}


def mistake_probs(logits, names, **settings) -> list[tuple[str, torch.Tensor]]:
    return [(MISTAKE_HINTS[name], expected_probs(logits, mistake=name, **settings)) for name in names]


def discriminating_logits(rng: torch.Generator, vocab: int, names, *, scale: float = 1.5, **settings) -> torch.Tensor:
    """Random logits on which every named mistake is visible in 5,000 draws and no token sits on a
    top-k or top-p boundary (so float rounding cannot move it)."""
    for _ in range(2000):
        logits = (torch.randn(vocab, generator=rng, dtype=torch.float64) * scale).float()
        p = expected_probs(logits, **settings)
        if not _clear_of_boundaries(logits, **settings):
            continue
        if all(distance(p, q) >= SEPARATION for _, q in mistake_probs(logits, names, **settings)):
            return logits
    raise RuntimeError("harness error: no discriminating logits found")


def _clear_of_boundaries(logits, *, temperature=1.0, top_k=None, top_p=None) -> bool:
    z = logits.double() / temperature
    ranked = z.sort(descending=True).values
    if (ranked[:-1] - ranked[1:]).min() < 0.05:
        return False
    if top_k is not None and top_k < len(z):
        z = _top_k(z, top_k, None)
    if top_p is not None:
        cumulative = z.softmax(-1).sort(descending=True).values.cumsum(0)
        if (cumulative - top_p).abs().min() < 0.03:
            return False
    return True


# -- talking to the learner's sampler ------------------------------------------------------------------

def seed_from(rng: torch.Generator) -> int:
    return randint(rng, 0, 2**31 - 1)


def draw(learner, logits: torch.Tensor, *, seed: int, **settings) -> torch.Tensor:
    """sample_next on ``logits`` (N, V); the learner's draws as (N,) int64, validated."""
    got = learner.function("sample_next")(logits, generator=GeneratorSeed(seed), **settings)
    return tokens_of(got, (logits.shape[0],), logits.shape[-1], what=f"sample_next(logits of shape "
                     f"{tuple(logits.shape)}, {describe_settings(settings)})")


def describe_settings(settings: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None) or "defaults"


def tokens_of(got, shape: tuple[int, ...], vocab: int, *, what: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise GradingFailure(f"{what} returned {describe_value(got)}, expected a tensor of token ids of shape "
                             f"{shape}.", "Return a plain LongTensor of token ids.")
    if tuple(got.shape) != shape:
        raise GradingFailure(f"{what} returned shape {tuple(got.shape)}, expected {shape}.",
                             "sample_next returns one token per row: (B,). generate returns the prompt followed by "
                             "max_new_tokens new tokens: (B, T + max_new_tokens).")
    if got.dtype.is_floating_point or got.dtype == torch.bool or got.is_complex():
        raise GradingFailure(f"{what} returned dtype {got.dtype}, expected integer token ids.",
                             "Token ids are integers (torch.long): argmax and multinomial give them directly.")
    got = got.long()
    if got.numel() and (int(got.min()) < 0 or int(got.max()) >= vocab):
        raise GradingFailure(f"{what} returned token ids outside 0..{vocab - 1} (min {int(got.min())}, "
                             f"max {int(got.max())}).", "Sample an index into the vocabulary axis (dim=-1).")
    return got


def _fits(counts: torch.Tensor, probs: torch.Tensor, n: int) -> bool:
    freq = counts.double() / n
    if bool(((probs == 0) & (counts > 0)).any()):
        return False
    tolerance = SIGMAS * (probs * (1 - probs) / n).sqrt() + 3.0 / n
    return bool(((freq - probs).abs() <= tolerance).all())


def _percent(values) -> str:
    return "[" + ", ".join(f"{100 * float(v):.1f}" for v in values) + "]"


def check_frequencies(counts: torch.Tensor, probs: torch.Tensor, *, case: str, labels: str = "token",
                      mistakes=(), hint: str = "") -> None:
    """counts (K,) of N draws against the exact probabilities (K,): impossible outcomes must never
    appear; the others within 5 binomial standard errors. Names a known mistake whose
    distribution the draws fit instead."""
    n = int(counts.sum())
    freq = counts.double() / n
    fitting = list(dict.fromkeys(h for h, q in mistakes if _fits(counts, q, n)))
    likely = fitting[0] if len(fitting) == 1 else (
        "The draws fit several known mistakes: " + " ".join(f"({i}) {h}" for i, h in enumerate(fitting, 1))
        if fitting else "")
    impossible = ((probs == 0) & (counts > 0)).nonzero().flatten().tolist()
    if impossible:
        which = ", ".join(f"{labels} {i} ({int(counts[i])} times)" for i in impossible[:4])
        raise GradingFailure(
            f"{case}: {which} came out of {n} draws, but must never be drawn (filtered out: probability 0).\n"
            f"  drawn %:    {_percent(freq)}\n  expected %: {_percent(probs)}", likely or hint)
    tolerance = SIGMAS * (probs * (1 - probs) / n).sqrt() + 3.0 / n
    off = ((freq - probs).abs() > tolerance).nonzero().flatten().tolist()
    if off:
        i = max(off, key=lambda j: float((freq[j] - probs[j]).abs() / tolerance[j]))
        raise GradingFailure(
            f"{case}: {labels} {i} was drawn {100 * float(freq[i]):.1f}% of {n} times, expected "
            f"{100 * float(probs[i]):.1f}% ± {100 * float(tolerance[i]):.1f}% (5 standard errors).\n"
            f"  drawn %:    {_percent(freq)}\n  expected %: {_percent(probs)}", likely or hint)


def check_sampler(learner, rng, logits: torch.Tensor, *, names=(), hint: str = "", **settings) -> None:
    """5,000 draws from one row of logits (repeated), checked against the exact distribution."""
    got = draw(learner, logits.expand(DRAWS, -1).contiguous(), seed=seed_from(rng), **settings)
    counts = torch.bincount(got, minlength=len(logits))
    probs = expected_probs(logits, **settings)
    case = f"{DRAWS} draws from logits {[round(float(v), 2) for v in logits]} with {describe_settings(settings)}"
    check_frequencies(counts, probs, case=case, mistakes=mistake_probs(logits, names, **settings), hint=hint)


# -- sample_next -----------------------------------------------------------------------------------------

@pytest.mark.hint("temperature=0 means greedy: return logits.argmax(-1) without sampling (dividing by 0 gives inf).")
def test_temperature_zero_is_argmax(learner, rng):
    """temperature=0 is greedy: exactly the argmax of every row, whatever top_k and top_p say"""
    b, v = randint(rng, 5, 9), randint(rng, 6, 12)
    logits = torch.randn(b, v, generator=rng) * 2
    for settings in ({"temperature": 0.0}, {"temperature": 0.0, "top_k": 3, "top_p": 0.5}):
        got = draw(learner, logits, seed=seed_from(rng), **settings)
        check_tensor(got, logits.argmax(-1), what="sample_next", case=f"logits of shape {tuple(logits.shape)}, "
                     f"{describe_settings(settings)}", atol=0, rtol=0, check_dtype=False,
                     hint="temperature=0 means greedy decoding: the argmax of each row, no sampling at all.")


def test_plain_sampling_follows_the_softmax(learner, rng):
    """temperature 1, no filters: tokens drawn with the softmax's probabilities (5,000 draws)"""
    logits = discriminating_logits(rng, randint(rng, 4, 7), ["batch-axis"])
    check_sampler(learner, rng, logits, names=["batch-axis"], temperature=1.0,
                  hint="Draw with torch.multinomial(logits.softmax(-1), 1, generator=generator).")


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_temperature_scales_the_logits(learner, rng, temperature):
    """temperature T: tokens drawn from softmax(logits / T) (5,000 draws)"""
    names = ["multiplied", "temperature-ignored"]
    logits = discriminating_logits(rng, randint(rng, 4, 6), names, temperature=temperature)
    check_sampler(learner, rng, logits, names=names, temperature=temperature,
                  hint="Divide the logits by the temperature before the softmax.")


def test_top_k_frequencies(learner, rng):
    """top_k=k: only the k most likely tokens, renormalised (5,000 draws)"""
    v = randint(rng, 6, 8)
    k = randint(rng, 2, v - 3)
    names = ["k-plus-one", "k-smallest"]
    logits = discriminating_logits(rng, v, names, top_k=k)
    check_sampler(learner, rng, logits, names=names, top_k=k,
                  hint="Keep the k largest logits (logits.topk(k)), set the others to -inf, then softmax.")


def test_top_k_one_is_greedy_in_every_row(learner, rng):
    """top_k=1 always gives each row's argmax (rows with different logits in one batch)"""
    b, v = randint(rng, 20, 40), randint(rng, 5, 9)
    logits = torch.randn(b, v, generator=rng) * 2
    got = draw(learner, logits, seed=seed_from(rng), top_k=1)
    check_tensor(got, logits.argmax(-1), what="sample_next", case=f"top_k=1 on logits of shape {tuple(logits.shape)}",
                 atol=0, rtol=0, check_dtype=False,
                 hint="With top_k=1 only each row's most likely token survives: filter per row (dim=-1), and keep "
                      "exactly k tokens (an off-by-one keeps k + 1).")


def test_top_k_larger_than_the_vocabulary_keeps_everything(learner, rng):
    """top_k >= vocabulary size filters nothing (5,000 draws)"""
    v = randint(rng, 3, 5)
    logits = discriminating_logits(rng, v, [])
    check_sampler(learner, rng, logits, top_k=v + 3,
                  hint="top_k larger than the vocabulary keeps every token: use min(top_k, V) (topk(k) raises for "
                       "k > V).")


def test_top_p_boundary_never_yields_the_last_token(learner, rng):
    """top-p: probabilities 0.4/0.3/0.2/0.1 and p=0.8 never yield the 0.1 token, keep the 0.2 one (5,000 draws)

    The 0.2 token crosses 0.8 and is kept."""
    probs = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    logits = probs.log().float()
    names = ["exclude-crossing", "probs-as-logits", "ascending"]
    check_sampler(learner, rng, logits, names=names, top_p=0.8,
                  hint="Sort the probabilities (most likely first), keep the smallest prefix whose total reaches "
                       "top_p (the token that crosses it included), renormalise, then sample.")


def test_top_p_in_shuffled_vocabulary_order(learner, rng):
    """top-p with 0.4/0.3/0.2/0.1 spread over a shuffled vocabulary: the 0.1 token is never drawn (5,000 draws)"""
    probs = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    order = torch.tensor([2, 3, 1, 0]) if bool(torch.rand(1, generator=rng) < 0.5) else torch.tensor([3, 2, 0, 1])
    logits = probs[order].log().float()  # the 0.1 token is never last, the 0.4 token never first
    names = ["vocabulary-order", "exclude-crossing", "ascending", "probs-as-logits"]
    check_sampler(learner, rng, logits, names=names, top_p=0.8,
                  hint="Sort the probabilities in descending order before the cumulative sum, then map the "
                       "decision back to vocabulary order (scatter with the sort indices).")


def test_top_p_random_case(learner, rng):
    """top-p on random logits and a random p (5,000 draws)"""
    top_p = 0.5 + 0.4 * float(torch.rand(1, generator=rng))
    names = ["exclude-crossing", "vocabulary-order", "ascending", "probs-as-logits"]
    logits = discriminating_logits(rng, randint(rng, 6, 8), names, top_p=top_p)
    check_sampler(learner, rng, logits, names=names, top_p=round(top_p, 3),
                  hint="Keep the smallest set of most likely tokens whose total probability reaches top_p.")


@pytest.mark.hint("The most likely token is always kept, however small top_p is: is the token that crosses top_p "
                  "dropped, leaving nothing to sample from?")
def test_tiny_top_p_keeps_the_most_likely_token(learner, rng):
    """top_p smaller than the largest probability keeps that token alone: always the argmax"""
    b, v = randint(rng, 10, 20), randint(rng, 5, 9)
    logits = torch.randn(b, v, generator=rng) * 2
    got = draw(learner, logits, seed=seed_from(rng), top_p=0.01)
    check_tensor(got, logits.argmax(-1), what="sample_next", case=f"top_p=0.01 on logits of shape "
                 f"{tuple(logits.shape)}", atol=0, rtol=0, check_dtype=False,
                 hint="The most likely token alone already reaches top_p=0.01, so it is kept (the token that "
                      "crosses top_p stays) and nothing else is.")


def test_filters_combined_in_order(learner, rng):
    """temperature, then top-k, then top-p on what top-k kept (5,000 draws)"""
    settings = {"temperature": 1.5, "top_k": 4, "top_p": 0.6}
    names = ["top-p-first", "temperature-last"]
    logits = discriminating_logits(rng, 7, names, scale=2.0, **settings)
    check_sampler(learner, rng, logits, names=names + ["multiplied", "exclude-crossing", "k-plus-one"], **settings,
                  hint="The order is: divide by the temperature, keep the top k, then top-p over the renormalised "
                       "distribution of those k.")


def test_rows_are_sampled_independently(learner, rng):
    """a batch mixing two different rows: each row's tokens follow its own distribution (2 x 2,500 draws)"""
    v = randint(rng, 4, 6)
    first, second = (discriminating_logits(rng, v, []) for _ in range(2))
    while distance(expected_probs(first), expected_probs(second)) < SEPARATION:
        second = discriminating_logits(rng, v, [])
    half = DRAWS // 2
    logits = torch.cat([first.expand(half, -1), second.expand(half, -1)])
    got = draw(learner, logits, seed=seed_from(rng))
    for name, row, part in (("first", first, got[:half]), ("second", second, got[half:])):
        check_frequencies(torch.bincount(part, minlength=v), expected_probs(row),
                          case=f"the {name} half of a batch of two kinds of rows",
                          hint="Each row is its own distribution: softmax over dim=-1, one draw per row.")


def test_the_generator_decides_the_draws(learner, rng):
    """the same seeded generator gives the same draws; another seed gives others"""
    logits = discriminating_logits(rng, 6, []).expand(200, -1).contiguous()
    seed = seed_from(rng)
    first, again = draw(learner, logits, seed=seed), draw(learner, logits, seed=seed)
    other = draw(learner, logits, seed=seed + 1)
    if not torch.equal(first, again):
        raise GradingFailure("Two calls of sample_next with generators seeded alike gave different draws.",
                             "Use the generator you are given: torch.multinomial(probs, 1, generator=generator) "
                             "(or torch.rand(..., generator=generator)); the global random state is not yours.")
    if torch.equal(first, other):
        raise GradingFailure("Generators with different seeds gave the same 200 draws.",
                             "Draw with the generator you are given, not a fixed seed of your own.")


# -- generate on a bigram model --------------------------------------------------------------------------



def greedy(table: torch.Tensor, ids: torch.Tensor, steps: int, *, mistake: str | None = None) -> torch.Tensor:
    out = ids.clone()
    for _ in range(steps):
        source = {"first-position": out[:, 0], "not-fed-back": ids[:, -1]}.get(mistake, out[:, -1])
        out = torch.cat([out, table[source].argmax(-1, keepdim=True)], dim=1)
    return out


@pytest.mark.hint("generate(model, ids, n, temperature=0) appends the argmax of model(ids)[:, -1] n times.")
def test_generate_greedy_equals_argmax_decoding(learner, rng):
    """generate(temperature=0) equals argmax decoding, token for token"""
    v, b, t, steps = randint(rng, 7, 11), randint(rng, 3, 5), randint(rng, 2, 4), randint(rng, 5, 8)
    table = separated_table(rng, v)
    ids = torch.randint(0, v, (b, t), generator=rng)
    got = learner.function("generate")(bigram_model(learner, table), ids, steps, temperature=0.0,
                                       generator=GeneratorSeed(seed_from(rng)))
    what = f"generate(model, ids of shape {tuple(ids.shape)}, {steps}, temperature=0)"
    got = tokens_of(got, (b, t + steps), v, what=what)
    mistakes = [Mistake("Each step used the logits of the first position: the next token comes from "
                        "model(ids)[:, -1], the last position.", lambda: greedy(table, ids, steps, mistake="first-position")),
                Mistake("Every new token was predicted from the prompt alone: append it to ids and feed the longer "
                        "sequence back into the model.", lambda: greedy(table, ids, steps, mistake="not-fed-back"))]
    check_tensor(got, greedy(table, ids, steps), what="generate", case=f"{steps} greedy steps after prompts "
                 f"{ids.tolist()} on a bigram model", atol=0, rtol=0, mistakes=mistakes, check_dtype=False,
                 hint="temperature=0 must be greedy: the argmax at the last position, appended, then fed back.")


def test_generate_samples_each_token_given_the_previous_one(learner, rng):
    """generate(temperature=1) for 2 steps: the pairs of new tokens follow the model's joint distribution"""
    v = 4
    while True:
        table = torch.randn(v, v, generator=rng, dtype=torch.float64) * 1.5
        first, last = randint(rng, 0, v - 1), randint(rng, 0, v - 1)
        if first == last:
            continue
        p = table.softmax(-1)
        joint = (p[last][:, None] * p).flatten()  # P(t1 = i) P(t2 = j | i)
        fed_back_not = (p[last][:, None] * p[last][None, :]).flatten()
        first_position = (p[first][:, None] * p[first][None, :]).flatten()
        if min(distance(joint, q) for q in (fed_back_not, first_position)) >= SEPARATION:
            break
    ids = torch.tensor([[first, last]]).expand(DRAWS, -1).contiguous()
    got = learner.function("generate")(bigram_model(learner, table), ids, 2, temperature=1.0,
                                       generator=GeneratorSeed(seed_from(rng)))
    got = tokens_of(got, (DRAWS, 4), v, what=f"generate(model, ids of shape {tuple(ids.shape)}, 2)")
    if not torch.equal(got[:, :2], ids):
        raise GradingFailure("generate changed the prompt: the first T tokens of its output must be ids itself.",
                             "Return torch.cat([ids, new_tokens], dim=1).")
    counts = torch.bincount(got[:, 2] * v + got[:, 3], minlength=v * v)
    check_frequencies(counts, joint, case=f"{DRAWS} two-token continuations of prompt [{first}, {last}] "
                      f"(cell i*{v}+j = first new token i, second j)", labels="pair",
                      mistakes=[("Every new token was drawn given the prompt alone: append each new token to ids and "
                                 "feed the longer sequence back into the model.", fed_back_not),
                                ("Each step sampled from the first position's logits: use model(ids)[:, -1].",
                                 first_position)],
                      hint="Sample the first new token from model(ids)[:, -1], append it, and sample the second "
                           "from the logits at the new last position.")
