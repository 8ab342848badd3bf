"""Hidden tests for bonus milestone 7, module level: MultiHeadAttention(..., need_weights=True)
returns PyTorch's per-head attention weights.

The judge's expectation is nn.MultiheadAttention's own ``need_weights=True,
average_attn_weights=False`` output with the same weights (its boolean mask
means True = blocked, so our "may attend" masks go in inverted)."""

import math

import pytest
import torch
import torch.nn as nn

from grader.judge.compare import F64, GradingFailure, Mistake, check_tensor, describe_value
from grader.judge.support import DTYPES, causal_mask, distinct_sizes, padding_mask, randint, randn


def sizes(rng):
    """batch != seq != heads, with a head count that divides d_model"""
    while True:
        b, t = distinct_sizes(rng, 2, 2, 7)
        heads = randint(rng, 2, 4)
        d_model = heads * randint(rng, 2, 5)
        if len({b, t, heads, d_model}) == 4:
            return b, t, d_model, heads


def reference_mha(rng, d_model, heads, *, dtype=torch.float64):
    mha = nn.MultiheadAttention(d_model, heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn(p.shape, generator=rng, dtype=torch.float64) * 0.5)
    return mha.to(dtype).eval()


def load(learner, mha, d_model, heads, *, dtype=torch.float64):
    module = learner.construct("MultiHeadAttention", d_model, heads, bias=True, dropout=0.0).to(dtype)
    kwargs = {"embed_dim": d_model, "num_heads": heads, "batch_first": True}
    module.method("load_torch_weights", learner.reference_module(mha, "MultiheadAttention", kwargs, dtype))
    return module.eval()


def allowed_from(b, t, mask, key_padding_mask):
    """(B, 1, T, T), True = may attend (our convention)."""
    allowed = torch.ones(b, 1, t, t, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & mask
    if key_padding_mask is not None:
        allowed = allowed & ~key_padding_mask[:, None, None, :]
    return allowed


def expected(mha, x, mask=None, key_padding_mask=None):
    """(output, per-head weights (B, H, T, T)) from PyTorch itself."""
    with torch.no_grad():
        return mha(x, x, x, attn_mask=None if mask is None else ~mask, key_padding_mask=key_padding_mask,
                   need_weights=True, average_attn_weights=False)


def functional_weights(mha, x, allowed, mistake=None):
    """Per-head weights as a known mistake computes them (float64, judge side)."""
    x = x.double()
    b, t, d = x.shape
    h = mha.num_heads
    q, k, _ = (x @ w.T + bias for w, bias in zip(mha.in_proj_weight.double().chunk(3),
                                                   mha.in_proj_bias.double().chunk(3)))
    if mistake == "heads-without-transpose":
        q, k = (z.reshape(b, h, t, d // h) for z in (q, k))
    else:
        q, k = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k))
    scale = {"scale-d-model": math.sqrt(d), "no-scale": 1.0}.get(mistake, math.sqrt(d // h))
    scores = q @ k.transpose(-2, -1) / scale  # (B, H, T, T)
    if mistake == "scores":
        return scores.masked_fill(~allowed, float("-inf"))
    if mistake == "before-mask":
        return torch.softmax(scores, -1)
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1).nan_to_num(0.0)
    if mistake == "averaged":
        return weights.mean(1, keepdim=True).expand_as(weights)
    if mistake == "transposed":
        return weights.transpose(-2, -1)
    return weights


WEIGHT_MISTAKES = {
    "averaged": "the weights are averaged over heads (nn.MultiheadAttention's default average_attn_weights=True): "
                "return one (T, T) pattern per head, (B, H, T, T).",
    "transposed": "the weights are transposed: rows must be the queries (who attends), columns the keys.",
    "scores": "these are the scores before the softmax: return the softmax probabilities (each row sums to 1).",
    "heads-without-transpose": "heads split by viewing (B, T, d_model) as (B, H, T, d_head) without the transpose.",
    "scale-d-model": "scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_head).",
    "no-scale": "no 1/sqrt(d_head) scaling of the scores.",
}


def weight_mistakes(mha, x, mask, key_padding_mask):
    b, t, _ = x.shape
    allowed = allowed_from(b, t, mask, key_padding_mask)
    found = [Mistake(hint, lambda name=name: functional_weights(mha, x, allowed, name))
             for name, hint in WEIGHT_MISTAKES.items()]
    if mask is not None or key_padding_mask is not None:
        found.append(Mistake("these are the weights before the mask: mask the scores first, then take the softmax, "
                             "and return those probabilities.",
                             lambda: functional_weights(mha, x, allowed, "before-mask")))
    if mask is not None:
        found.append(Mistake("the attention mask is inverted: True means 'may attend' here (nn.MultiheadAttention's "
                             "bool attn_mask uses True = blocked: pass ~mask to it).",
                             lambda: functional_weights(mha, x, allowed_from(b, t, ~mask, key_padding_mask))))
    return found


def split_result(value, what):
    """(output, weights) from forward(..., need_weights=True)."""
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise GradingFailure(f"{what} with need_weights=True returned {describe_value(value)}, "
                             "expected a pair (output (B, T, D), weights (B, H, T, T)).",
                             "Return `(out, weights)` when need_weights is True, the plain output otherwise.")
    return value


def check(module, mha, x, *, case, tol=F64, mask=None, key_padding_mask=None):
    out, weights = split_result(module(x, mask=mask, key_padding_mask=key_padding_mask, need_weights=True),
                                "MultiHeadAttention.forward")
    want_out, want_weights = expected(mha, x, mask, key_padding_mask)
    check_tensor(weights, want_weights, what="the attention weights of MultiHeadAttention.forward", case=case,
                 **tol, mistakes=weight_mistakes(mha, x, mask, key_padding_mask),
                 hint="Return the weights the output was computed with: softmax over the keys of the masked, "
                      "scaled scores, one (T, T) pattern per head.")
    check_tensor(out, want_out, what="the output of MultiHeadAttention.forward", case=case, **tol,
                 hint="The output changed when need_weights=True: it must be the same computation either way.")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_weights_match_torch_per_head(learner, rng, dtype):
    """need_weights=True: per-head weights equal nn.MultiheadAttention's (average_attn_weights=False)"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads, dtype=torch_dtype)
    x = randn(rng, b, t, d_model, dtype=torch_dtype)
    check(load(learner, mha, d_model, heads, dtype=torch_dtype), mha, x, tol=tol,
          case=f"x {tuple(x.shape)}, {heads} heads, {dtype}")


def test_weights_with_one_head(learner, rng):
    """one head: the weights are (B, 1, T, T)"""
    b, t, d_model = distinct_sizes(rng, 3, 2, 9)
    mha = reference_mha(rng, d_model, 1)
    check(load(learner, mha, d_model, 1), mha, randn(rng, b, t, d_model), case=f"1 head, d_model={d_model}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_weights_under_a_causal_mask(learner, rng, dtype):
    """a causal mask: the weights are lower-triangular and equal PyTorch's"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_model, heads = sizes(rng)
    t = max(t, 3)
    mha = reference_mha(rng, d_model, heads, dtype=torch_dtype)
    x = randn(rng, b, t, d_model, dtype=torch_dtype)
    check(load(learner, mha, d_model, heads, dtype=torch_dtype), mha, x, mask=causal_mask(t), tol=tol,
          case=f"x {tuple(x.shape)} with a causal mask, {heads} heads, {dtype}")


def test_weights_with_key_padding_and_causal_mask(learner, rng):
    """key padding plus a causal mask: padded keys get weight 0"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    pad = padding_mask(rng, b, t)
    check(load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), mask=causal_mask(t),
          key_padding_mask=pad, case=f"a causal mask plus key padding {pad.int().tolist()} (1 = padding)")


def test_without_need_weights_the_output_is_a_tensor(learner, rng):
    """need_weights=False (the default): a plain (B, T, D) tensor, as in milestone 2"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    x = randn(rng, b, t, d_model)
    got = load(learner, mha, d_model, heads)(x, mask=causal_mask(t))
    check_tensor(got, expected(mha, x, causal_mask(t))[0], what="MultiHeadAttention.forward (need_weights=False)",
                 case=f"x {tuple(x.shape)} with a causal mask", **F64,
                 hint="Without need_weights=True, forward returns the output tensor alone, as in milestone 2.")
