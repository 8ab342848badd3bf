"""Hidden tests for milestone 1: scaled dot-product attention and SelfAttention."""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.judge.compare import F64, GradingFailure, Mistake, check_tensor, check_unchanged
from grader.judge.support import DTYPES, causal_mask, distinct_sizes, randn, random_mask

# -- the reference and known mistakes, computed in the judge ---------------------------------


def reference(q, k, v, mask=None):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def _weights(scores, mask, fill=float("-inf"), dim=-1):
    if mask is not None:
        scores = scores.masked_fill(~mask, fill)
    return torch.softmax(scores, dim=dim)


def attention_mistakes(q, k, v, mask=None):
    d = q.size(-1)
    scores = q @ k.transpose(-2, -1)
    mistakes = [
        Mistake("no 1/sqrt(d_k) scaling of the scores. Did you scale by 1/sqrt(d_head)?",
                lambda: _weights(scores, mask) @ v),
        Mistake("scores scaled by 1/d_k instead of 1/sqrt(d_k).", lambda: _weights(scores / d, mask) @ v),
        Mistake("scores scaled by sqrt(d_k) (multiplied instead of divided).",
                lambda: _weights(scores * math.sqrt(d), mask) @ v),
        Mistake("softmax over the queries axis (dim=-2) instead of the keys (dim=-1).",
                lambda: _weights(scores / math.sqrt(d), mask, dim=-2) @ v),
        Mistake("the scores are scaled after the softmax instead of before it.",
                lambda: (_weights(scores, mask) / math.sqrt(d)) @ v),
    ]
    if mask is not None:
        mistakes += [
            Mistake("the mask is ignored.", lambda: _weights(scores / math.sqrt(d), None) @ v),
            Mistake("the mask is inverted: True must mean 'may attend' here (PyTorch's nn.MultiheadAttention "
                    "uses the opposite convention).", lambda: torch.nan_to_num(_weights(scores / math.sqrt(d), ~mask) @ v)),
            Mistake("masked scores filled with a finite number instead of -inf, so a query with every key masked "
                    "averages all values instead of returning zeros.",
                    lambda: _weights(scores / math.sqrt(d), mask, fill=-1e9) @ v),
            Mistake("masked scores filled with a finite number (-1e4) instead of -inf: real scores below it "
                    "lose to the masked ones.", lambda: _weights(scores / math.sqrt(d), mask, fill=-1e4) @ v),
        ]
    return mistakes


def check_attention(got, q, k, v, mask, *, case, tol):
    expected = reference(q, k, v, mask)
    check_tensor(got, expected, what="scaled_dot_product_attention", case=case, **tol,
                 mistakes=attention_mistakes(q.double(), k.double(), v.double(), mask))


def shapes(rng):
    batch, t_q, t_k, d_k, d_v = distinct_sizes(rng, 5, 2, 9)
    return batch, t_q, t_k, d_k, d_v


# -- the function ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_pytorch_without_mask(learner, rng, dtype):
    """matches F.scaled_dot_product_attention, no mask"""
    torch_dtype, tol = DTYPES[dtype]
    b, t_q, t_k, d_k, d_v = shapes(rng)
    q, k, v = randn(rng, b, t_q, d_k, dtype=torch_dtype), randn(rng, b, t_k, d_k, dtype=torch_dtype), randn(rng, b, t_k, d_v, dtype=torch_dtype)
    got = learner.function("scaled_dot_product_attention")(q, k, v)
    check_attention(got, q, k, v, None, case=f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, {dtype}", tol=tol)


def test_single_query_and_single_key(learner, rng):
    """one query, and one key (then the output is that key's value)"""
    d_k, d_v = distinct_sizes(rng, 2, 3, 8)
    f = learner.function("scaled_dot_product_attention")
    q, k, v = randn(rng, 2, 1, d_k), randn(rng, 2, 5, d_k), randn(rng, 2, 5, d_v)
    check_attention(f(q, k, v), q, k, v, None, case="a single query (T_q=1)", tol=F64)
    q, k, v = randn(rng, 2, 4, d_k), randn(rng, 2, 1, d_k), randn(rng, 2, 1, d_v)
    check_attention(f(q, k, v), q, k, v, None, case="a single key (T_k=1)", tol=F64)


def test_extra_batch_axes(learner, rng):
    """works with several leading batch axes (batch, heads, ...)"""
    b, h, t, d = distinct_sizes(rng, 4, 2, 7)
    q, k, v = randn(rng, b, h, t, d), randn(rng, b, h, t, d), randn(rng, b, h, t, d)
    got = learner.function("scaled_dot_product_attention")(q, k, v)
    check_attention(got, q, k, v, None, case=f"inputs of shape {(b, h, t, d)}", tol=F64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_causal_mask(learner, rng, dtype):
    """a causal mask (T_q, T_k) broadcast over the batch"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_k, d_v = distinct_sizes(rng, 4, 2, 9)
    q, k, v = (randn(rng, b, t, d, dtype=torch_dtype) for d in (d_k, d_k, d_v))
    mask = causal_mask(t)
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask=mask)
    check_attention(got, q, k, v, mask, case=f"a causal mask of shape {tuple(mask.shape)}, {dtype}", tol=tol)


def test_random_mask_per_batch_item(learner, rng):
    """a random mask of shape (B, T_q, T_k), every query keeping at least one key"""
    b, t_q, t_k, d = distinct_sizes(rng, 4, 2, 9)
    q, k, v = randn(rng, b, t_q, d), randn(rng, b, t_k, d), randn(rng, b, t_k, d)
    mask = random_mask(rng, b, t_q, t_k)
    mask[..., 0] = True
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask)
    check_attention(got, q, k, v, mask, case=f"a random mask of shape {tuple(mask.shape)}", tol=F64)


def test_fully_masked_rows_give_zeros_not_nan(learner, rng):
    """a query whose keys are all masked returns zeros, never NaN"""
    b, t, d = distinct_sizes(rng, 3, 3, 8)
    q, k, v = randn(rng, b, t, d), randn(rng, b, t, d), randn(rng, b, t, d)
    mask = random_mask(rng, b, t, t)
    mask[..., 0] = True
    mask[0, 1, :] = False  # a padding row
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask)
    check_attention(got, q, k, v, mask, case="a mask with one fully masked query row", tol=F64)


def test_masked_keys_have_no_influence(learner, rng):
    """changing masked keys and values, even to huge numbers, changes nothing"""
    b, t, d = distinct_sizes(rng, 3, 3, 8)
    q, k, v = randn(rng, b, t, d), randn(rng, b, t, d), randn(rng, b, t, d)
    mask = causal_mask(t)
    f = learner.function("scaled_dot_product_attention")
    before = f(q, k, v, mask)
    k2, v2 = k.clone(), v.clone()
    k2[:, -1], v2[:, -1] = 1e3, 1e3  # only the last position changes; every query but the last masks it
    after = f(q, k2, v2, mask)
    for got in (before, after):
        if not isinstance(got, torch.Tensor) or got.shape != v.shape:
            check_tensor(got, reference(q, k, v, mask), what="scaled_dot_product_attention", case="a causal mask",
                         **F64)
    check_tensor(after[:, :-1], before[:, :-1], what="outputs of earlier queries",
                 case="a causal mask after changing only the last key and value to 1e3", atol=1e-9, rtol=1e-9,
                 hint="Masked scores must become -inf before the softmax. A finite fill like -1e4 or -1e9 lets "
                      "huge scores leak through; a mask applied after the softmax leaves the normalisation wrong.")


def test_large_scores_stay_finite(learner, rng):
    """large scores (q and k scaled up) neither overflow nor NaN"""
    b, t, d = distinct_sizes(rng, 3, 3, 8)
    q, k, v = randn(rng, b, t, d, scale=40.0), randn(rng, b, t, d, scale=40.0), randn(rng, b, t, d)
    mask = causal_mask(t)
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask)
    check_attention(got, q, k, v, mask, case="large scores (|q·k| in the thousands) with a causal mask", tol=F64)


def test_very_negative_scores_under_a_mask(learner, rng):
    """scores far below -1e4 with a causal mask: masked keys must still lose"""
    b, t, d = distinct_sizes(rng, 3, 3, 8)
    q = torch.full((b, t, d), 100.0, dtype=torch.float64)
    k = torch.full((b, t, d), -100.0, dtype=torch.float64) + randn(rng, b, t, d, scale=0.01)
    v = randn(rng, b, t, d)
    mask = causal_mask(t)
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask)
    check_attention(got, q, k, v, mask, case="every score about -1e4 * sqrt(d) with a causal mask", tol=F64)


def test_inputs_are_not_modified(learner, rng):
    """q, k, v and the mask are left as they were"""
    b, t, d = distinct_sizes(rng, 3, 3, 8)
    q, k, v = randn(rng, b, t, d), randn(rng, b, t, d), randn(rng, b, t, d)
    mask = random_mask(rng, b, t, t)
    mask[..., 0] = True
    value = learner.call("scaled_dot_product_attention", None, [q, k, v, mask], {}, what="scaled_dot_product_attention",
                         return_args=True)
    for name, before, after in zip("q k v mask".split(), (q, k, v, mask), value["args"]):
        check_unchanged(before, after, what=f"Input {name}")


# -- the module ---------------------------------------------------------------------------------


def mha_reference(rng, d_model, bias, dtype):
    mha = nn.MultiheadAttention(d_model, 1, batch_first=True, bias=bias, dtype=torch.float64)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(torch.randn(p.shape, generator=rng, dtype=torch.float64) * 0.4)
    return mha.to(dtype).eval()


def module_mistakes(mha, x, mask):
    x = x.double()
    w = mha.in_proj_weight.double()
    b = mha.in_proj_bias.double() if mha.in_proj_bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
    wq, wk, wv = w.chunk(3)
    bq, bk, bv = b.chunk(3)
    ow = mha.out_proj.weight.double()
    ob = mha.out_proj.bias.double() if mha.out_proj.bias is not None else 0
    attend = lambda q, k, v: reference(q, k, v, mask)  # noqa: E731
    return [
        Mistake("the output projection (out_proj) is missing.", lambda: attend(x @ wq.T + bq, x @ wk.T + bk, x @ wv.T + bv)),
        Mistake("weights applied without transposing: F.linear computes x @ W.T + b.",
                lambda: attend(x @ wq + bq, x @ wk + bk, x @ wv + bv) @ ow + ob),
        Mistake("q and k taken from the wrong chunks of in_proj_weight (order is [W_q; W_k; W_v]).",
                lambda: attend(x @ wk.T + bk, x @ wq.T + bq, x @ wv.T + bv) @ ow.T + ob),
        Mistake("the biases were not copied.", lambda: attend(x @ wq.T, x @ wk.T, x @ wv.T) @ ow.T),
    ]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_self_attention_matches_one_head_mha(learner, rng, dtype, bias):
    """SelfAttention equals a one-head nn.MultiheadAttention with the same weights"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_model = distinct_sizes(rng, 3, 2, 10)
    mha = mha_reference(rng, d_model, bias, torch_dtype)
    module = learner.construct("SelfAttention", d_model, bias=bias).to(torch_dtype)
    module.method("load_torch_weights", learner.reference_module(
        mha, "MultiheadAttention", {"embed_dim": d_model, "num_heads": 1, "batch_first": True, "bias": bias}, torch_dtype))
    module.eval()
    x = randn(rng, b, t, d_model, dtype=torch_dtype)
    with torch.no_grad():
        expected = mha(x, x, x, need_weights=False)[0]
    check_tensor(module(x), expected, what="SelfAttention.forward", case=f"x {tuple(x.shape)}, bias={bias}, {dtype}",
                 **tol, mistakes=module_mistakes(mha, x, None))


def test_biases_are_loaded(learner, rng):
    """load_torch_weights copies the biases: weights differing only in biases give different outputs"""
    b, t, d_model = distinct_sizes(rng, 3, 2, 9)
    mha = mha_reference(rng, d_model, True, torch.float64)
    other = mha_reference(rng, d_model, True, torch.float64)
    with torch.no_grad():
        other.in_proj_weight.copy_(mha.in_proj_weight)
        other.out_proj.weight.copy_(mha.out_proj.weight)
    kwargs = {"embed_dim": d_model, "num_heads": 1, "batch_first": True}
    x = randn(rng, b, t, d_model)
    outputs = []
    for source in (mha, other):
        learner.seed(0)  # the same initialisation for both: only what is loaded differs
        module = learner.construct("SelfAttention", d_model).to(torch.float64)
        module.method("load_torch_weights", learner.reference_module(source, "MultiheadAttention", kwargs, torch.float64))
        outputs.append(module.eval()(x))
    if all(isinstance(o, torch.Tensor) for o in outputs) and torch.equal(outputs[0], outputs[1]):
        raise GradingFailure("Two nn.MultiheadAttention modules that differ only in their biases gave exactly the "
                             "same output after load_torch_weights: the biases were not copied.",
                             "Copy in_proj_bias (split in three, like the weight) and out_proj.bias too.")


@pytest.mark.parametrize("mask_kind", ["causal", "per-item"])
def test_self_attention_with_masks(learner, rng, mask_kind):
    """SelfAttention with a (T, T) causal mask and a (B, T, T) mask"""
    b, t, d_model = distinct_sizes(rng, 3, 2, 10)
    mha = mha_reference(rng, d_model, True, torch.float64)
    module = learner.construct("SelfAttention", d_model).to(torch.float64)
    module.method("load_torch_weights", learner.reference_module(
        mha, "MultiheadAttention", {"embed_dim": d_model, "num_heads": 1, "batch_first": True}, torch.float64))
    module.eval()
    x = randn(rng, b, t, d_model)
    if mask_kind == "causal":
        mask, torch_mask = causal_mask(t), ~causal_mask(t)
    else:
        mask = random_mask(rng, b, t, t)
        mask[..., 0] = True
        torch_mask = ~mask
    with torch.no_grad():
        expected = mha(x, x, x, attn_mask=torch_mask, need_weights=False)[0]
    check_tensor(module(x, mask), expected, what="SelfAttention.forward",
                 case=f"x {tuple(x.shape)} with a {mask_kind} mask of shape {tuple(mask.shape)}", **F64,
                 mistakes=module_mistakes(mha, x, mask))


def test_self_attention_batch_items_are_independent(learner, rng):
    """each batch item's output depends on that item alone"""
    b, t, d_model = distinct_sizes(rng, 3, 2, 9)
    module = learner.construct("SelfAttention", d_model).to(torch.float64).eval()
    x = randn(rng, b, t, d_model)
    full = module(x)
    alone = module(x[1:2])
    if not isinstance(full, torch.Tensor) or full.shape != x.shape:
        raise GradingFailure(f"SelfAttention.forward for x {tuple(x.shape)}: expected an output of the same shape.")
    check_tensor(alone, full[1:2], what="SelfAttention.forward on one batch item", case="item 1 alone vs inside the batch",
                 atol=1e-9, rtol=1e-7, hint="Something mixes batch items: a reduction or reshape over the batch axis?")
