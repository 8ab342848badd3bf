"""Hidden tests for milestone 2: multi-head attention against nn.MultiheadAttention, in eval mode
and in train mode (dropout where PyTorch drops, as often, and scaled the same).

A failed comparison is explained by the "multihead" probes (grader.judge.diagnosis).
"""

import pytest
import torch
import torch.nn as nn

from grader.judge.compare import F64, GradingFailure, check_tensor, check_unchanged
from grader.judge.diagnosis import MhaWeights, explained
from grader.judge.diagnosis import mha as model_mha
from grader.judge.diagnosis.dropout import mha_case, mha_expected, mha_stats, same_stats
from grader.judge.diagnosis.engine import REFERENCE
from grader.judge.diagnosis.lab import torch_mha
from grader.judge.diagnosis.probes_multihead import large_scores
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


def check(learner, module, mha, x, *, case, tol=F64, mask=None, key_padding_mask=None, names=(), hint=""):
    got = module(x, mask=mask, key_padding_mask=key_padding_mask)
    weights = MhaWeights.of(mha)
    with explained(learner, "multihead", got=got,
                   predict=lambda variant: model_mha(weights, x, variant, mask=mask, pad=key_padding_mask,
                                                     dropout=mha.dropout),
                   atol=max(1e-5, 10 * tol["atol"]), rtol=max(1e-4, 10 * tol["rtol"])):
        check_tensor(got, expected_output(mha, x, mask, key_padding_mask), what="MultiHeadAttention.forward",
                     case=case, **tol, hint=hint, names=names)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_matches_torch_without_masks(learner, rng, dtype, bias):
    """matches nn.MultiheadAttention(batch_first=True) with the same weights"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads, bias=bias, dtype=torch_dtype)
    module = load(learner, mha, d_model, heads, bias=bias, dtype=torch_dtype)
    x = randn(rng, b, t, d_model, dtype=torch_dtype)
    check(learner, module, mha, x, case=f"x {tuple(x.shape)}, {heads} heads, bias={bias}, {dtype}", tol=tol)


def test_one_head(learner, rng):
    """one head (then it is single-head attention)"""
    b, t, d_model = distinct_sizes(rng, 3, 2, 9)
    mha = reference_mha(rng, d_model, 1)
    check(learner, load(learner, mha, d_model, 1), mha, randn(rng, b, t, d_model), case=f"1 head, d_model={d_model}")


def test_many_heads_of_size_one(learner, rng):
    """as many heads as dimensions (d_head = 1)"""
    b, t = distinct_sizes(rng, 2, 2, 5)
    d_model = 6
    mha = reference_mha(rng, d_model, d_model)
    check(learner, load(learner, mha, d_model, d_model), mha, randn(rng, b, t, d_model), case="6 heads of size 1")


def test_single_token(learner, rng):
    """a sequence of one token"""
    b, _, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    check(learner, load(learner, mha, d_model, heads), mha, randn(rng, b, 1, d_model), case=f"sequence length 1, {heads} heads")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_causal_mask(learner, rng, dtype):
    """a (T, T) causal mask"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads, dtype=torch_dtype)
    x = randn(rng, b, t, d_model, dtype=torch_dtype)
    check(learner, load(learner, mha, d_model, heads, dtype=torch_dtype), mha, x, mask=causal_mask(t), tol=tol,
          case=f"x {tuple(x.shape)} with a causal mask, {heads} heads, {dtype}")


def test_per_item_mask(learner, rng):
    """a (B, T, T) mask, different for every batch item"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    mask = random_mask(rng, b, t, t)
    mask[..., 0] = True
    check(learner, load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), mask=mask,
          case=f"a random mask of shape {tuple(mask.shape)}, {heads} heads")


def test_key_padding_mask(learner, rng):
    """a (B, T) key padding mask"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    pad = padding_mask(rng, b, t)
    check(learner, load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), key_padding_mask=pad,
          case=f"key padding {pad.int().tolist()} (1 = padding), {heads} heads")


def test_causal_and_padding_together(learner, rng):
    """a causal mask and a key padding mask together"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads)
    pad = padding_mask(rng, b, t)
    check(learner, load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), mask=causal_mask(t),
          key_padding_mask=pad, case=f"a causal mask plus key padding {pad.int().tolist()}")


def test_all_padding_item_gives_no_nan(learner, rng):
    """a batch item whose keys are all padding: no NaN, attention gives zeros"""
    b, t, d_model, heads = sizes(rng)
    b = max(b, 3)
    mha = reference_mha(rng, d_model, heads)
    pad = padding_mask(rng, b, t, allow_empty=True)
    check(learner, load(learner, mha, d_model, heads), mha, randn(rng, b, t, d_model), key_padding_mask=pad,
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
        with explained(learner, "multihead"):
            raise GradingFailure("Two nn.MultiheadAttention modules that differ only in their biases gave exactly the "
                                 "same output after load_torch_weights: the biases were not copied.",
                                 "Copy in_proj_bias (in the same layout as in_proj_weight) and out_proj.bias too.",
                                 names={"biases-not-loaded"})


def test_dropout_is_off_in_eval_mode(learner, rng):
    """dropout configured (p=0.5) but eval mode: deterministic and equal to PyTorch"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads, dropout=0.5)
    module = load(learner, mha, d_model, heads, dropout=0.5)
    check(learner, module, mha, randn(rng, b, t, d_model), case="dropout=0.5 after .eval()",
          hint="Dropout still active in eval mode? Use nn.Dropout or F.dropout(..., training=self.training).",
          names={"dropout-in-eval"})


def test_large_scores(learner, rng):
    """scores up to 1500 (|scores| >= 1e3) under a causal mask: no overflow, no NaN"""
    b, t, d_model, heads = sizes(rng)
    x = randn(rng, b, t, d_model)
    mha = torch_mha(large_scores(MhaWeights.of(reference_mha(rng, d_model, heads)), x))
    check(learner, load(learner, mha, d_model, heads), mha, x, mask=causal_mask(t),
          case=f"x {tuple(x.shape)}, {heads} heads, W_q and W_k scaled so that the largest |score| is 1500")


def test_train_mode_with_dropout_one(learner, rng):
    """train mode with dropout=1: every attention weight is dropped, as in nn.MultiheadAttention"""
    b, t, d_model, heads = sizes(rng)
    mha = reference_mha(rng, d_model, heads, dropout=1.0)
    module = load(learner, mha, d_model, heads, dropout=1.0).train()
    x = randn(rng, b, t, d_model)
    learner.seed(randint(rng, 0, 2**30))
    got = module(x)
    with torch.no_grad():
        expected = mha.train()(x, x, x, need_weights=False)[0]
    weights = MhaWeights.of(mha.eval())
    with explained(learner, "multihead", got=got, predict=lambda variant: model_mha(weights, x, variant, dropped=True)):
        check_tensor(got, expected, what="MultiHeadAttention.forward in train mode", case="dropout=1.0, where "
                     "PyTorch drops every attention weight (after the softmax): only out_proj.bias is left", **F64)


def test_train_mode_dropout_statistics(learner, rng):
    """train mode with dropout=0.25: a quarter of the attention weights dropped, the rest scaled by 1/(1-p)"""
    p, heads, d_head, t = 0.25, 2, 5, 4
    weights, x = mha_case(64, t, heads, d_head)
    mha = torch_mha(weights, dropout=p)
    module = load(learner, mha, weights.d_model, heads, dropout=p).train()
    learner.seed(randint(rng, 0, 2**30))
    got = module(x)
    if not isinstance(got, torch.Tensor) or got.shape != x.shape:
        check_tensor(got, x, what="MultiHeadAttention.forward in train mode", case=f"dropout={p}", **F64)
    observed, expected = mha_stats(got, t, heads, d_head), mha_expected(REFERENCE, p)
    if not same_stats(observed, expected):
        with explained(learner, "multihead"):
            raise GradingFailure(
                f"MultiHeadAttention in train mode with dropout={p}, with weights that make every attention weight "
                f"visible (W_q = W_k = 0, so each weight is 1/T; W_v = W_o = I): {observed.describe()}. "
                f"nn.MultiheadAttention drops {p:.0%} of the attention weights (after the softmax) and scales the "
                f"others by 1/(1-p), so the mean stays 1.000.", "Dropout acts on the attention weights, after the "
                "softmax: nn.Dropout(p) or F.dropout(weights, p, training=self.training).",
                names={"dropout-never-applied", "dropout-unscaled", "dropout-keep-probability", "dropout-on-scores",
                       "dropout-after-out-proj"})


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
    with explained(learner, "multihead"):
        check_tensor(after[:, :cut], before[:, :cut], what=f"outputs at positions 0..{cut - 1}",
                     case=f"changing tokens {cut}..{t - 1} under a causal mask", atol=1e-9, rtol=1e-7,
                     hint="Earlier positions saw later tokens: is the causal mask applied in every head, "
                          "and is it lower-triangular (tril), diagonal included?",
                     names={"mask-ignored", "mask-transposed", "mask-inverted"})


def test_batch_items_are_independent(learner, rng):
    """each batch item's output depends on that item alone"""
    b, t, d_model, heads = sizes(rng)
    module = load(learner, reference_mha(rng, d_model, heads), d_model, heads)
    x = randn(rng, b, t, d_model)
    full = module(x)
    if not isinstance(full, torch.Tensor) or full.shape != x.shape:
        raise GradingFailure("MultiHeadAttention.forward did not return a (B, T, d_model) tensor.")
    with explained(learner, "multihead"):
        check_tensor(module(x[-1:]), full[-1:], what="the last batch item's output", case="alone vs inside the batch",
                     atol=1e-9, rtol=1e-7, hint="A reshape that mixes the batch axis with the others?",
                     names={"batch-first-confusion", "batch-heads-mixed"})


def test_inputs_are_not_modified(learner, rng):
    """x and the masks are left as they were"""
    b, t, d_model, heads = sizes(rng)
    module = load(learner, reference_mha(rng, d_model, heads), d_model, heads)
    x, mask, pad = randn(rng, b, t, d_model), causal_mask(t), padding_mask(rng, b, t)
    _, args = module.call_keeping_args(x, mask, pad)
    for name, before, after in zip(("x", "mask", "key_padding_mask"), (x, mask, pad), args):
        check_unchanged(before, after, what=f"Input {name}")
