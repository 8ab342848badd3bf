"""Hidden tests for milestone 2: multi-head attention against nn.MultiheadAttention."""

import math

import pytest
import torch
import torch.nn as nn

from grader.judge.compare import F64, GradingFailure, Mistake, check_tensor, check_unchanged
from grader.judge.support import DTYPES, causal_mask, distinct_sizes, padding_mask, randint, randn, random_mask


def divisor_heads(rng, d_model):
    options = [h for h in range(2, d_model + 1) if d_model % h == 0 and h <= 6]
    return options[randint(rng, 0, len(options) - 1)] if options else 1


def sizes(rng):
    """batch != seq != d_model, with a head count that divides d_model"""
    while True:
        b, t = distinct_sizes(rng, 2, 2, 7)
        d_head = randint(rng, 2, 5)
        heads = randint(rng, 2, 4)
        d_model = d_head * heads
        if d_model not in (b, t):
            return b, t, d_model, heads


def reference_mha(rng, d_model, heads, *, bias=True, dtype=torch.float64, dropout=0.0):
    mha = nn.MultiheadAttention(d_model, heads, batch_first=True, bias=bias, dropout=dropout, dtype=torch.float64)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn(p.shape, generator=rng, dtype=torch.float64) * 0.4)
    return mha.to(dtype).eval()


def load(learner, mha, d_model, heads, *, bias=True, dtype=torch.float64, dropout=0.0):
    module = learner.construct("MultiHeadAttention", d_model, heads, bias=bias, dropout=dropout).to(dtype)
    kwargs = {"embed_dim": d_model, "num_heads": heads, "batch_first": True, "bias": bias, "dropout": dropout}
    module.method("load_torch_weights", learner.reference_module(mha, "MultiheadAttention", kwargs, dtype))
    return module.eval()


def allowed_from(b, t, mask, key_padding_mask):
    """(B, 1, T, T) True = may attend, in our convention."""
    allowed = torch.ones(b, 1, t, t, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & (mask if mask.dim() == 2 else mask[:, None])
    if key_padding_mask is not None:
        allowed = allowed & ~key_padding_mask[:, None, None, :]
    return allowed


def expected_output(mha, x, mask=None, key_padding_mask=None):
    """PyTorch's output, with rows that may attend to nothing set to what our convention defines:
    zeros from attention, so only the output projection's bias."""
    b, t, _ = x.shape
    allowed = allowed_from(b, t, mask, key_padding_mask)
    torch_mask = None if mask is None else ~(mask if mask.dim() == 2 else mask.repeat_interleave(mha.num_heads, 0))
    with torch.no_grad():
        out = mha(x, x, x, attn_mask=torch_mask, key_padding_mask=key_padding_mask, need_weights=False)[0]
    empty = ~allowed.any(-1)[:, 0]  # (B, T)
    if empty.any():
        bias = mha.out_proj.bias if mha.out_proj.bias is not None else torch.zeros(x.shape[-1], dtype=x.dtype)
        out = torch.where(empty[..., None], bias.expand_as(out), out)
    return out


def functional_mha(mha, x, allowed, *, mistake=None, query_padding=None):
    """A judge-side multi-head attention that can reproduce known mistakes."""
    x = x.double()
    b, t, d = x.shape
    h = mha.num_heads
    w = mha.in_proj_weight.double()
    bias = mha.in_proj_bias.double() if mha.in_proj_bias is not None else torch.zeros(3 * d, dtype=torch.float64)
    if mistake == "no-bias":
        bias = torch.zeros_like(bias)
    transpose_weights = mistake != "no-transpose-weights"
    if not transpose_weights:
        q, k, v = (x @ w_i + b_i for w_i, b_i in zip(w.chunk(3), bias.chunk(3)))
    else:
        q, k, v = (x @ w_i.T + b_i for w_i, b_i in zip(w.chunk(3), bias.chunk(3)))
    if mistake == "qk-swapped":
        q, k = k, q
    if mistake == "heads-without-transpose":
        q, k, v = (z.reshape(b, h, t, d // h) for z in (q, k, v))
    else:
        q, k, v = (z.view(b, t, h, d // h).transpose(1, 2) for z in (q, k, v))
    scale = {"scale-d-model": math.sqrt(d), "no-scale": 1.0}.get(mistake, math.sqrt(d // h))
    if mistake == "padding-on-queries":
        allowed = query_padding
    fill = -1e9 if mistake == "finite-fill" else float("-inf")
    scores = (q @ k.transpose(-2, -1) / scale).masked_fill(~allowed, fill)
    weights = torch.softmax(scores, -2 if mistake == "softmax-over-queries" else -1).nan_to_num(0.0)
    y = weights @ v
    y = y.reshape(b, t, d) if mistake == "merge-without-transpose" else y.transpose(1, 2).reshape(b, t, d)
    if mistake == "no-out-proj":
        return y
    ob = mha.out_proj.bias.double() if mha.out_proj.bias is not None and mistake != "no-bias" else 0
    out_weight = mha.out_proj.weight.double()
    return y @ (out_weight.T if transpose_weights else out_weight) + ob


MISTAKES = {
    "heads-without-transpose": "heads split by viewing (B, T, d_model) as (B, H, T, d_head) without the transpose: "
                               "the shapes fit but tokens are mixed between heads.",
    "merge-without-transpose": "heads merged by viewing (B, H, T, d_head) as (B, T, d_model) without transposing back.",
    "scale-d-model": "scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_head).",
    "no-out-proj": "the output projection (out_proj) is missing.",
    "no-bias": "the biases were not loaded (in_proj_bias and out_proj.bias).",
    "qk-swapped": "q and k taken from the wrong chunks of in_proj_weight (order is [W_q; W_k; W_v]).",
    "no-transpose-weights": "weights applied without transposing: F.linear computes x @ W.T + b.",
    "padding-on-queries": "key_padding_mask applied to the queries instead of the keys.",
    "no-scale": "no 1/sqrt(d_head) scaling of the scores. Did you scale by 1/sqrt(d_head)?",
    "softmax-over-queries": "softmax over the queries axis (dim=-2) instead of the keys (dim=-1).",
    "finite-fill": "masked scores filled with a finite number instead of -inf, so a query with nothing to attend to "
                   "averages all values instead of getting zeros.",
}


def mistakes_for(mha, x, mask=None, key_padding_mask=None):
    b, t, _ = x.shape
    allowed = allowed_from(b, t, mask, key_padding_mask)
    query_padding = allowed_from(b, t, mask, None)
    if key_padding_mask is not None:
        query_padding = query_padding & ~key_padding_mask[:, None, :, None]
    found = [Mistake(hint, lambda name=name: functional_mha(mha, x, allowed, mistake=name, query_padding=query_padding))
             for name, hint in MISTAKES.items() if name != "padding-on-queries" or key_padding_mask is not None]
    if mask is not None or key_padding_mask is not None:
        found.append(Mistake("the masks are ignored.",
                             lambda: functional_mha(mha, x, torch.ones_like(allowed))))
    if mask is not None:
        found.append(Mistake("the attention mask is inverted: True means 'may attend' here (nn.MultiheadAttention "
                             "uses True = blocked).", lambda: functional_mha(mha, x, allowed_from(b, t, ~mask, key_padding_mask))))
    if key_padding_mask is not None:
        found.append(Mistake("key_padding_mask is inverted: True marks padding.",
                             lambda: functional_mha(mha, x, allowed_from(b, t, mask, ~key_padding_mask))))
    return found


def check(module, mha, x, *, case, tol=F64, mask=None, key_padding_mask=None):
    got = module(x, mask=mask, key_padding_mask=key_padding_mask)
    check_tensor(got, expected_output(mha, x, mask, key_padding_mask), what="MultiHeadAttention.forward", case=case,
                 **tol, mistakes=mistakes_for(mha, x, mask, key_padding_mask))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_matches_torch_without_masks(learner, rng, dtype, bias):
    """matches nn.MultiheadAttention(batch_first=True) with the same weights"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads, bias=bias, dtype=torch_dtype)
    module = load(learner, mha, d_model, heads, bias=bias, dtype=torch_dtype)
    x = randn(rng, b, t, d_model, dtype=torch_dtype)
    check(module, mha, x, case=f"x {tuple(x.shape)}, {heads} heads, bias={bias}, {dtype}", tol=tol)


def test_one_head(learner, rng):
    """one head (then it is single-head attention)"""
    b, t, d_model = distinct_sizes(rng, 3, 2, 9)
    mha = reference_mha(rng, d_model, 1)
    check(load(learner, mha, d_model, 1), mha, randn(rng, b, t, d_model), case=f"1 head, d_model={d_model}")


def test_many_heads_of_size_one(learner, rng):
    """as many heads as dimensions (d_head = 1)"""
    b, t = distinct_sizes(rng, 2, 2, 5)
    d_model = 6
    mha = reference_mha(rng, d_model, d_model)
    check(load(learner, mha, d_model, d_model), mha, randn(rng, b, t, d_model), case="6 heads of size 1")


def test_single_token(learner, rng):
    """a sequence of one token"""
    b, _, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    check(load(learner, mha, d_model, heads), mha, randn(rng, b, 1, d_model), case=f"sequence length 1, {heads} heads")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_causal_mask(learner, rng, dtype):
    """a (T, T) causal mask"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads, dtype=torch_dtype)
    x = randn(rng, b, t, d_model, dtype=torch_dtype)
    check(load(learner, mha, d_model, heads, dtype=torch_dtype), mha, x, mask=causal_mask(t), tol=tol,
          case=f"x {tuple(x.shape)} with a causal mask, {heads} heads, {dtype}")


def test_per_item_mask(learner, rng):
    """a (B, T, T) mask, different for every batch item"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    mask = random_mask(rng, b, t, t)
    mask[..., 0] = True
    check(load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), mask=mask,
          case=f"a random mask of shape {tuple(mask.shape)}, {heads} heads")


def test_key_padding_mask(learner, rng):
    """a (B, T) key padding mask"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    pad = padding_mask(rng, b, t)
    check(load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), key_padding_mask=pad,
          case=f"key padding {pad.int().tolist()} (1 = padding), {heads} heads")


def test_causal_and_padding_together(learner, rng):
    """a causal mask and a key padding mask together"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    pad = padding_mask(rng, b, t)
    check(load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), mask=causal_mask(t),
          key_padding_mask=pad, case=f"a causal mask plus key padding {pad.int().tolist()}")


def test_all_padding_item_gives_no_nan(learner, rng):
    """a batch item whose keys are all padding: no NaN, attention gives zeros"""
    b, t, d_model, heads = sizes(rng)
    b = max(b, 3)
    mha = reference_mha(rng, d_model, heads)
    pad = padding_mask(rng, b, t, allow_empty=True)
    check(load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), key_padding_mask=pad,
          case=f"key padding {pad.int().tolist()} where the last item is all padding")


def test_biases_are_loaded(learner, rng):
    """load_torch_weights copies the biases: weights differing only in biases give different outputs"""
    b, t, d_model, heads = sizes(rng)
    mha, other = reference_mha(rng, d_model, heads), reference_mha(rng, d_model, heads)
    with torch.no_grad():
        other.in_proj_weight.copy_(mha.in_proj_weight)
        other.out_proj.weight.copy_(mha.out_proj.weight)
    x = randn(rng, b, t, d_model)
    outputs = []
    for source in (mha, other):
        learner.seed(0)  # the same initialisation for both: only what is loaded differs
        outputs.append(load(learner, source, d_model, heads)(x))
    if all(isinstance(o, torch.Tensor) for o in outputs) and torch.equal(outputs[0], outputs[1]):
        raise GradingFailure("Two nn.MultiheadAttention modules that differ only in their biases gave exactly the "
                             "same output after load_torch_weights: the biases were not copied.",
                             "Copy in_proj_bias (in the same layout as in_proj_weight) and out_proj.bias too.")


def test_dropout_is_off_in_eval_mode(learner, rng):
    """dropout configured (p=0.5) but eval mode: deterministic and equal to PyTorch"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads, dropout=0.5)
    module = load(learner, mha, d_model, heads, dropout=0.5)
    x = randn(rng, b, t, d_model)
    got = module(x)
    check_tensor(got, expected_output(mha, x), what="MultiHeadAttention.forward", case="dropout=0.5 after .eval()",
                 **F64, hint="Dropout still active in eval mode? Use nn.Dropout or F.dropout(..., training=self.training).")


def test_causality_later_tokens_do_not_change_earlier_outputs(learner, rng):
    """under a causal mask, changing later tokens leaves earlier outputs unchanged"""
    b, t, d_model, heads = sizes(rng)
    t = max(t, 3)
    module = load(learner, reference_mha(rng, d_model, heads), d_model, heads)
    x = randn(rng, b, t, d_model)
    cut = randint(rng, 1, t - 1)
    y = x.clone()
    y[:, cut:] = randn(rng, b, t - cut, d_model, scale=5.0)
    before, after = module(x, mask=causal_mask(t)), module(y, mask=causal_mask(t))
    if not isinstance(before, torch.Tensor) or before.shape != x.shape:
        raise GradingFailure("MultiHeadAttention.forward did not return a (B, T, d_model) tensor.")
    check_tensor(after[:, :cut], before[:, :cut], what=f"outputs at positions 0..{cut - 1}",
                 case=f"changing tokens {cut}..{t - 1} under a causal mask", atol=1e-9, rtol=1e-7,
                 hint="Earlier positions saw later tokens: is the causal mask applied in every head, "
                      "and is it lower-triangular (tril), diagonal included?")


def test_batch_items_are_independent(learner, rng):
    """each batch item's output depends on that item alone"""
    b, t, d_model, heads = sizes(rng)
    module = load(learner, reference_mha(rng, d_model, heads), d_model, heads)
    x = randn(rng, b, t, d_model)
    full = module(x)
    if not isinstance(full, torch.Tensor) or full.shape != x.shape:
        raise GradingFailure("MultiHeadAttention.forward did not return a (B, T, d_model) tensor.")
    check_tensor(module(x[-1:]), full[-1:], what="the last batch item's output", case="alone vs inside the batch",
                 atol=1e-9, rtol=1e-7, hint="A reshape that mixes the batch axis with the others?")


def test_inputs_are_not_modified(learner, rng):
    """x and the masks are left as they were"""
    b, t, d_model, heads = sizes(rng)
    module = load(learner, reference_mha(rng, d_model, heads), d_model, heads)
    x, mask, pad = randn(rng, b, t, d_model), causal_mask(t), padding_mask(rng, b, t)
    _, args = module.call_keeping_args(x, mask, pad)
    for name, before, after in zip(("x", "mask", "key_padding_mask"), (x, mask, pad), args):
        check_unchanged(before, after, what=f"Input {name}")
