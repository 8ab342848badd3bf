"""Hidden tests for milestone 1: scaled dot-product attention and SelfAttention.

A failed comparison is explained by the probes of its unit ("sdpa" for the
function, "self-attention" for the module; grader.judge.diagnosis): they name the
mistake with the evidence, or say where the fault is when no known mistake matches.
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.judge.compare import F64, GradingFailure, check_tensor, check_unchanged
from grader.judge.diagnosis import MhaWeights, explained
from grader.judge.diagnosis import mha as model_mha
from grader.judge.diagnosis import sdpa as model_sdpa
from grader.judge.support import DTYPES, causal_mask, distinct_sizes, randn, random_mask

# -- the reference, computed in the judge ---------------------------------------------------------------------


def reference(q, k, v, mask=None):
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)


def check_attention(learner, got, q, k, v, mask, *, case, tol):
    expected = reference(q, k, v, mask)
    with explained(learner, "sdpa", got=got, predict=lambda variant: model_sdpa(q, k, v, mask, variant),
                   atol=max(1e-5, 10 * tol["atol"]), rtol=max(1e-4, 10 * tol["rtol"])):
        check_tensor(got, expected, what="scaled_dot_product_attention", case=case, **tol)


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
    check_attention(learner, got, q, k, v, None, case=f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}, {dtype}", tol=tol)


def test_single_query_and_single_key(learner, rng):
    """one query, and one key (then the output is that key's value)"""
    d_k, d_v = distinct_sizes(rng, 2, 3, 8)
    f = learner.function("scaled_dot_product_attention")
    q, k, v = randn(rng, 2, 1, d_k), randn(rng, 2, 5, d_k), randn(rng, 2, 5, d_v)
    check_attention(learner, f(q, k, v), q, k, v, None, case="a single query (T_q=1)", tol=F64)
    q, k, v = randn(rng, 2, 4, d_k), randn(rng, 2, 1, d_k), randn(rng, 2, 1, d_v)
    check_attention(learner, f(q, k, v), q, k, v, None, case="a single key (T_k=1)", tol=F64)


def test_extra_batch_axes(learner, rng):
    """works with several leading batch axes (batch, heads, ...)"""
    b, h, t, d = distinct_sizes(rng, 4, 2, 7)
    q, k, v = randn(rng, b, h, t, d), randn(rng, b, h, t, d), randn(rng, b, h, t, d)
    got = learner.function("scaled_dot_product_attention")(q, k, v)
    check_attention(learner, got, q, k, v, None, case=f"inputs of shape {(b, h, t, d)}", tol=F64)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_causal_mask(learner, rng, dtype):
    """a causal mask (T_q, T_k) broadcast over the batch"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_k, d_v = distinct_sizes(rng, 4, 2, 9)
    q, k, v = (randn(rng, b, t, d, dtype=torch_dtype) for d in (d_k, d_k, d_v))
    mask = causal_mask(t)
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask=mask)
    check_attention(learner, got, q, k, v, mask, case=f"a causal mask of shape {tuple(mask.shape)}, {dtype}", tol=tol)


def test_random_mask_per_batch_item(learner, rng):
    """a random mask of shape (B, T_q, T_k), every query keeping at least one key"""
    b, t_q, t_k, d = distinct_sizes(rng, 4, 2, 9)
    q, k, v = randn(rng, b, t_q, d), randn(rng, b, t_k, d), randn(rng, b, t_k, d)
    mask = random_mask(rng, b, t_q, t_k)
    mask[..., 0] = True
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask)
    check_attention(learner, got, q, k, v, mask, case=f"a random mask of shape {tuple(mask.shape)}", tol=F64)


def test_fully_masked_rows_give_zeros_not_nan(learner, rng):
    """a query whose keys are all masked returns zeros, never NaN"""
    b, t, d = distinct_sizes(rng, 3, 3, 8)
    q, k, v = randn(rng, b, t, d), randn(rng, b, t, d), randn(rng, b, t, d)
    mask = random_mask(rng, b, t, t)
    mask[..., 0] = True
    mask[0, 1, :] = False  # a padding row
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask)
    check_attention(learner, got, q, k, v, mask, case="a mask with one fully masked query row", tol=F64)


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
            check_attention(learner, got, q, k, v, mask, case="a causal mask", tol=F64)
    with explained(learner, "sdpa"):
        check_tensor(after[:, :-1], before[:, :-1], what="outputs of earlier queries",
                     case="a causal mask after changing only the last key and value to 1e3", atol=1e-9, rtol=1e-9,
                     hint="Masked scores must become -inf before the softmax. A finite fill like -1e4 or -1e9 lets "
                          "huge scores leak through; a mask applied after the softmax leaves the normalisation wrong.",
                     names={"finite-fill", "mask-after-softmax"})


def test_large_scores_stay_finite(learner, rng):
    """large scores (q and k scaled up) neither overflow nor NaN"""
    b, t, d = distinct_sizes(rng, 3, 3, 8)
    q, k, v = randn(rng, b, t, d, scale=40.0), randn(rng, b, t, d, scale=40.0), randn(rng, b, t, d)
    mask = causal_mask(t)
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask)
    check_attention(learner, got, q, k, v, mask, case="large scores (|q·k| in the thousands) with a causal mask", tol=F64)


def test_very_negative_scores_under_a_mask(learner, rng):
    """scores far below -1e4 with a causal mask: masked keys must still lose"""
    b, t, d = distinct_sizes(rng, 3, 3, 8)
    q = torch.full((b, t, d), 100.0, dtype=torch.float64)
    k = torch.full((b, t, d), -100.0, dtype=torch.float64) + randn(rng, b, t, d, scale=0.01)
    v = randn(rng, b, t, d)
    mask = causal_mask(t)
    got = learner.function("scaled_dot_product_attention")(q, k, v, mask)
    check_attention(learner, got, q, k, v, mask, case="every score about -1e4 * sqrt(d) with a causal mask", tol=F64)


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


def check_module(learner, got, mha_module, x, mask, *, case, tol):
    """SelfAttention's output against nn.MultiheadAttention(x, x, x) with the same weights."""
    torch_mask = None if mask is None else ~mask
    with torch.no_grad():
        expected = mha_module(x, x, x, attn_mask=torch_mask, need_weights=False)[0]
    weights = MhaWeights.of(mha_module)
    with explained(learner, "self-attention", got=got, predict=lambda variant: model_mha(weights, x, variant, mask=mask),
                   atol=max(1e-5, 10 * tol["atol"]), rtol=max(1e-4, 10 * tol["rtol"])):
        check_tensor(got, expected, what="SelfAttention.forward", case=case, **tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_self_attention_matches_one_head_mha(learner, rng, dtype, bias):
    """SelfAttention equals a one-head nn.MultiheadAttention with the same weights"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_model = distinct_sizes(rng, 3, 2, 10)
    reference_mha = mha_reference(rng, d_model, bias, torch_dtype)
    module = learner.construct("SelfAttention", d_model, bias=bias).to(torch_dtype)
    module.method("load_torch_weights", learner.reference_module(
        reference_mha, "MultiheadAttention", {"embed_dim": d_model, "num_heads": 1, "batch_first": True, "bias": bias},
        torch_dtype))
    module.eval()
    x = randn(rng, b, t, d_model, dtype=torch_dtype)
    check_module(learner, module(x), reference_mha, x, None, case=f"x {tuple(x.shape)}, bias={bias}, {dtype}", tol=tol)


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
        with explained(learner, "self-attention"):
            raise GradingFailure("Two nn.MultiheadAttention modules that differ only in their biases gave exactly the "
                                 "same output after load_torch_weights: the biases were not copied.",
                                 "Copy in_proj_bias (split in three, like the weight) and out_proj.bias too.",
                                 names={"biases-not-loaded"})


@pytest.mark.parametrize("mask_kind", ["causal", "per-item"])
def test_self_attention_with_masks(learner, rng, mask_kind):
    """SelfAttention with a (T, T) causal mask and a (B, T, T) mask"""
    b, t, d_model = distinct_sizes(rng, 3, 2, 10)
    reference_mha = mha_reference(rng, d_model, True, torch.float64)
    module = learner.construct("SelfAttention", d_model).to(torch.float64)
    module.method("load_torch_weights", learner.reference_module(
        reference_mha, "MultiheadAttention", {"embed_dim": d_model, "num_heads": 1, "batch_first": True},
        torch.float64))
    module.eval()
    x = randn(rng, b, t, d_model)
    if mask_kind == "causal":
        mask = causal_mask(t)
    else:
        mask = random_mask(rng, b, t, t)
        mask[..., 0] = True
    check_module(learner, module(x, mask), reference_mha, x, mask,
                 case=f"x {tuple(x.shape)} with a {mask_kind} mask of shape {tuple(mask.shape)}", tol=F64)


def test_self_attention_batch_items_are_independent(learner, rng):
    """each batch item's output depends on that item alone"""
    b, t, d_model = distinct_sizes(rng, 3, 2, 9)
    module = learner.construct("SelfAttention", d_model).to(torch.float64).eval()
    x = randn(rng, b, t, d_model)
    full = module(x)
    alone = module(x[1:2])
    if not isinstance(full, torch.Tensor) or full.shape != x.shape:
        raise GradingFailure(f"SelfAttention.forward for x {tuple(x.shape)}: expected an output of the same shape.")
    with explained(learner, "self-attention"):
        check_tensor(alone, full[1:2], what="SelfAttention.forward on one batch item",
                     case="item 1 alone vs inside the batch", atol=1e-9, rtol=1e-7,
                     hint="Something mixes batch items: a reduction or reshape over the batch axis?",
                     names={"batch-first-confusion"})
