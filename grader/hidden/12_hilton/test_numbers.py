"""Hidden tests for bonus milestone 12, the quantitative questions, asked of the
learner's own GPT.

The learner's functions compute each number from a spec of sizes
(vocab_size, block_size, d_model, n_heads, n_layers, d_ff); the judge builds
``build_model(spec)`` in the sandbox and computes the truth from that model and
the spec (conventions in ``grader.judge.sizes``). Three specs: milestone 6's
sizes, sizes drawn for this run (so that no number can be typed in), and the
spec the learner trained on (their defaults: the trained model's own count).
A wrong answer is shown beside the right one, with the formula.
"""

import math

import pytest

from grader.judge.compare import GradingFailure, describe_value
from grader.judge.session import Remote
from grader.judge.sizes import (
    BYTES_PER_ELEMENT, FLOPS_TOLERANCE, attention_flops, count, describe_groups, forward_flops, kv_cache_bytes,
    relative_error,
)
from grader.judge.support import randint
from grader.judge.trained import task_of
from grader.protocol import Handle

MILESTONE_6 = {"vocab_size": 88, "block_size": 128, "d_model": 128, "n_heads": 4, "n_layers": 4, "d_ff": 512}
SIZES = ("vocab_size", "block_size", "d_model", "n_heads", "n_layers", "d_ff")


def drawn(rng) -> dict:
    """Sizes for this run: d_model >= 64 and a context of 3-4 x d_model, so that the attention term is over
    10% of the FLOPs, counting the embedding tables as matmuls over 5%, and the de-embedding (2 x vocab x
    d_model, which some count) and the biases 2% at most: the tolerance tells them apart."""
    n_heads = (2, 4)[randint(rng, 0, 1)]
    d_model = (64, 96, 128)[randint(rng, 0, 2)]
    return {"vocab_size": randint(rng, 16, 40), "block_size": randint(rng, 3 * d_model, 4 * d_model),
            "d_model": d_model, "n_heads": n_heads, "n_layers": randint(rng, 2, 3),
            "d_ff": (2, 4)[randint(rng, 0, 1)] * d_model}


def spec_for(learner, which: str, rng) -> dict:
    """The harness task's spec with the sizes asked about ('trained': the task's spec as it is)."""
    sizes = MILESTONE_6 if which == "milestone 6" else drawn(rng) if which == "drawn" else {}
    return {**task_of(learner).spec, **sizes}


def shown(spec: dict) -> str:
    return ", ".join(f"{k}={spec[k]}" for k in SIZES if k in spec)


def built(learner, spec: dict):
    """(Remote model, Counted) for build_model(spec), built in the sandbox."""
    value = learner.call("build_model", None, [dict(spec)], {}, what=f"build_model({{{shown(spec)}}})")
    if not isinstance(value, Handle):
        raise GradingFailure(f"build_model(spec) returned {describe_value(value)}, not an nn.Module.",
                             "build_model must return your GPT (an nn.Module).")
    model = Remote(learner, value, "model")
    vocab, block = spec["vocab_size"], spec["block_size"]
    d_model = spec.get("d_model")
    if d_model is None:  # the trained spec: the learner's default width, read off the token embedding
        widths = [shape[1] for _, shape, _ in model.parameters() if len(shape) == 2 and shape[0] == vocab]
        d_model = widths[0] if widths else 0
    counted = count(model.parameters(), vocab_size=vocab, block_size=block, d_model=d_model)
    if not counted.token_embedding:
        raise GradingFailure(
            f"build_model({{{shown(spec)}}}) has no parameter of shape ({vocab}, {d_model}) (the token embedding): "
            "it does not build the sizes the spec asks for.",
            "Build GPTConfig from every size the spec holds: vocab_size, block_size, d_model, n_heads, n_layers "
            "and d_ff (your milestone-6 defaults only where the spec has none).")
    return model, counted


def number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GradingFailure(f"{what} returned {describe_value(value)}, expected a number.",
                             "Return a plain Python int (or float for FLOPs).")
    return float(value)


CASES = ["milestone 6", "drawn", "trained"]


@pytest.mark.parametrize("which", CASES)
def test_parameter_count(learner, rng, which):
    """parameter_count(spec) equals the number of parameters of build_model(spec)"""
    spec = spec_for(learner, which, rng)
    _, counted = built(learner, spec)
    what = f"parameter_count({{{shown(spec)}}})"
    got = number(learner.call("parameter_count", None, [dict(spec)], {}, what=what), what)
    if which == "trained":
        learner.metrics["parameters of your trained model"] = counted.total
    if got == counted.total:
        return
    difference = got - counted.total
    tied = " Is your head tied to the token embedding? Then it is one matrix, counted once." \
        if difference == counted.token_embedding else ""
    raise GradingFailure(
        f"{what} returned {got:,.0f}; your model built from that spec has {counted.total:,} parameters "
        f"({difference:+,.0f}).{tied} Counted in the sandbox, every parameter tensor once: "
        f"{describe_groups(counted)}.",
        "Add up every nn.Parameter: embeddings V x d and T x d, per block two LayerNorms (2 x 2d), the QKV and "
        "output projections (4d^2 + 4d with biases) and the MLP (2 d d_ff + d_ff + d), then the final LayerNorm "
        "(2d); a tied head adds nothing.")


@pytest.mark.parametrize("which", ["milestone 6", "drawn"])
def test_qkv_shapes(learner, rng, which):
    """qkv_shapes(spec, batch_size, seq_len) gives the shapes of q, k and v in one attention layer"""
    spec = spec_for(learner, which, rng)
    batch, seq = (3, 50) if which == "milestone 6" else (randint(rng, 2, 9), randint(rng, 10, spec["block_size"]))
    what = f"qkv_shapes({{{shown(spec)}}}, batch_size={batch}, seq_len={seq})"
    got = learner.call("qkv_shapes", None, [dict(spec), batch, seq], {}, what=what)
    d_head = spec["d_model"] // spec["n_heads"]
    expected = (batch, spec["n_heads"], seq, d_head)
    if not (isinstance(got, dict) and set(got) == {"q", "k", "v"}):
        raise GradingFailure(f"{what} returned {describe_value(got)}, expected a dict with the keys 'q', 'k' "
                             "and 'v', each a shape tuple.", "Return {'q': (B, H, T, d_head), 'k': ..., 'v': ...}.")
    wrong = {}
    for key in ("q", "k", "v"):
        shape = got[key]
        if not (isinstance(shape, (list, tuple)) and all(isinstance(s, int) and not isinstance(s, bool)
                                                         for s in shape)) or tuple(shape) != expected:
            wrong[key] = shape
    if not wrong:
        return
    first = next(iter(wrong.values()))
    guesses = {(batch, seq, spec["d_model"]): "before the split into heads",
               (batch, seq, spec["n_heads"], d_head): "heads split but not moved before the sequence axis",
               (batch, spec["n_heads"], seq, spec["d_model"]): "d_model per head instead of d_model / n_heads"}
    guess = guesses.get(tuple(first) if isinstance(first, (list, tuple)) else None)
    raise GradingFailure(
        f"{what}: " + ", ".join(f"{k} = {v!r}" for k, v in wrong.items()) + f"; expected {expected} for each "
        f"of q, k and v: (batch, n_heads, seq_len, d_head) with d_head = d_model / n_heads = "
        f"{spec['d_model']} / {spec['n_heads']} = {d_head}" + (f" (yours: {guess})." if guess else "."),
        "The shapes as the scores q @ k.transpose(-2, -1) are computed: one (seq_len, d_head) matrix per batch "
        "item and head.")


@pytest.mark.parametrize("which", ["milestone 6", "drawn"])
def test_forward_flops_per_token(learner, rng, which):
    """forward_flops_per_token(spec, context_len) is 2 x non-embedding parameters + the attention term (within 5%)"""
    spec = spec_for(learner, which, rng)
    _, counted = built(learner, spec)
    context = spec["block_size"]
    what = f"forward_flops_per_token({{{shown(spec)}}}, context_len={context})"
    got = number(learner.call("forward_flops_per_token", None, [dict(spec), context], {}, what=what), what)
    sizes = {"n_layers": spec["n_layers"], "context_len": context, "d_model": spec["d_model"]}
    n = counted.non_embedding
    expected = forward_flops(n, **sizes)
    if relative_error(got, expected) <= FLOPS_TOLERANCE:
        return
    attention = attention_flops(**sizes)
    mistakes = [(2 * n, "the attention term 2 x n_layers x context_len x d_model is missing (the scores q.k and "
                        "the weighted sum of v, for every key in the context)"),
                (n + attention, "a multiply-add is 2 FLOPs: 2 x N, not N"),
                (n + attention / 2, "a multiply-add is 2 FLOPs: count 2 per weight and 2 per key and dimension"),
                (expected * context, "that is per sequence of context_len tokens, not per token"),
                (2 * counted.total + attention, "the embedding tables are counted: a lookup is not a matmul, "
                                                "N leaves them out")]
    named = next((text for value, text in mistakes if relative_error(got, value) <= FLOPS_TOLERANCE / 2), None)
    raise GradingFailure(
        f"{what} returned {got:,.0f}; expected {expected:,.0f} (within {FLOPS_TOLERANCE:.0%}): 2 x N + "
        f"2 x n_layers x context_len x d_model = 2 x {n:,} + 2 x {spec['n_layers']} x {context} x "
        f"{spec['d_model']}, with N = {n:,} non-embedding parameters of your model ({counted.total:,} minus the "
        f"token embedding {counted.token_embedding:,} and the position embedding {counted.position_embedding:,})"
        + (f". It looks like {named}." if named else "."),
        "Kaplan et al. 2020, table 1: each weight costs a multiply and an add per token, and attention adds "
        "2 x context_len x d_model per layer.")


@pytest.mark.parametrize("which", ["milestone 6", "drawn"])
def test_kv_cache_bytes(learner, rng, which):
    """kv_cache_bytes(spec, batch_size, context_len, dtype) is the memory of the keys and values of every layer"""
    spec = spec_for(learner, which, rng)
    if which == "milestone 6":
        batch, context, dtype = 1, spec["block_size"], "float16"
    else:
        dtypes = ("float32", "float16", "bfloat16")
        batch, context = randint(rng, 2, 16), randint(rng, 100, 4000)
        dtype = dtypes[randint(rng, 0, len(dtypes) - 1)]
    what = f"kv_cache_bytes({{{shown(spec)}}}, batch_size={batch}, context_len={context}, dtype={dtype!r})"
    got = number(learner.call("kv_cache_bytes", None, [dict(spec), batch, context, dtype], {}, what=what), what)
    sizes = {"n_layers": spec["n_layers"], "batch_size": batch, "context_len": context, "d_model": spec["d_model"]}
    expected = kv_cache_bytes(**sizes, dtype=dtype)
    if got == expected:
        return
    size = BYTES_PER_ELEMENT[dtype]
    mistakes = [(expected / 2, "only keys or only values: the cache holds both K and V"),
                (expected / spec["n_layers"], "one layer only: every layer keeps its own keys and values"),
                (expected / size, f"elements, not bytes ({dtype} takes {size} bytes)"),
                (expected * 4 / size, f"4 bytes per element, but {dtype} takes {size}"),
                (expected / batch, "one sequence: the cache holds every sequence of the batch")]
    named = " or ".join(text for value, text in mistakes if got == value)  # equal sizes make some look alike
    raise GradingFailure(
        f"{what} returned {got:,.0f}; expected {expected:,}: 2 (K and V) x n_layers x batch_size x context_len "
        f"x d_model x {size} bytes = 2 x {spec['n_layers']} x {batch} x {context} x {spec['d_model']} x {size}"
        + (f". It looks like {named}." if named else "."),
        "Each layer caches k and v for every token seen: two (batch, n_heads, context_len, d_head) tensors, "
        "and n_heads x d_head = d_model.")


def test_sizes_follow_the_spec(learner, rng):
    """build_model(spec) builds the sizes it is given (the numbers above are about that model)"""
    spec = spec_for(learner, "drawn", rng)
    other = {**spec, "n_layers": spec["n_layers"] + 1, "d_ff": spec["d_ff"] + spec["d_model"]}
    _, first = built(learner, spec)
    _, second = built(learner, other)
    if second.total <= first.total:
        raise GradingFailure(
            f"build_model ignores n_layers or d_ff: {{{shown(spec)}}} and {{{shown(other)}}} give "
            f"{first.total:,} and {second.total:,} parameters.",
            "Build GPTConfig from every size the spec holds; use your defaults only for sizes it lacks.")
