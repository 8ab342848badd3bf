"""Hidden tests for milestone 3: the encoder block against nn.TransformerEncoderLayer, in eval mode
and in train mode (dropout where PyTorch drops, as often, and scaled the same).

A failed comparison is explained by the "block" probes, LayerNorm alone by the "layer-norm" probes
(grader.judge.diagnosis).
"""

import pytest
import torch

from grader.judge.block import check_block, load, make_layer, run_reference, sizes
from grader.judge.compare import F64, GradingFailure, check_tensor, check_unchanged
from grader.judge.diagnosis import BlockWeights, explained, layer_norm
from grader.judge.diagnosis import block as model_block
from grader.judge.diagnosis.dropout import (block_attention_case, block_attention_expected, block_ff_case,
                                            block_ff_expected, block_stats, same_stats)
from grader.judge.diagnosis.engine import REFERENCE
from grader.judge.diagnosis.lab import block_kwargs, torch_layer
from grader.judge.diagnosis.probes_multihead import large_scores
from grader.judge.support import DTYPES, causal_mask, padding_mask, randint, randn

CONFIGS = [(nf, act) for nf in (False, True) for act in ("relu", "gelu")]
CONFIG_IDS = [f"{'pre' if nf else 'post'}-LN-{act}" for nf, act in CONFIGS]
DROPOUT_NAMES = {"dropout-never-applied", "dropout-unscaled", "dropout-keep-probability", "dropout-on-scores",
                 "dropout-after-out-proj", "no-dropout-after-attention", "no-dropout-ff-hidden",
                 "no-dropout-ff-output"}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first,activation", CONFIGS, ids=CONFIG_IDS)
def test_matches_torch_encoder_layer(learner, rng, norm_first, activation, dtype):
    """matches nn.TransformerEncoderLayer with the same (non-trivial) weights"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=norm_first, activation=activation, dtype=torch_dtype)
    x = randn(rng, b, t, d, dtype=torch_dtype)
    check_block(learner, load(learner, layer, kwargs, torch_dtype)(x), layer, x, tol=tol,
                case=f"x {tuple(x.shape)}, {heads} heads, d_ff={d_ff}, norm_first={norm_first}, {activation}, {dtype}")


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_large_layer_norm_eps(learner, rng, norm_first):
    """layer_norm_eps=0.1, where eps outside the sqrt shows"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=norm_first, activation="relu", eps=0.1)
    x = randn(rng, b, t, d, scale=0.5)
    check_block(learner, load(learner, layer, kwargs)(x), layer, x, tol=F64,
                case=f"layer_norm_eps=0.1, norm_first={norm_first}",
                hint="Is epsilon inside the sqrt, and is it your layer_norm_eps (not a hard-coded 1e-5)?",
                names={"eps-outside-sqrt", "ln-eps-ignored"})


def test_without_biases(learner, rng):
    """bias=False everywhere (linear layers, attention and LayerNorm)"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=True, activation="gelu", bias=False)
    x = randn(rng, b, t, d)
    check_block(learner, load(learner, layer, kwargs)(x), layer, x, tol=F64, case="bias=False, pre-LN, gelu")


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_causal_mask(learner, rng, norm_first):
    """a (T, T) causal mask"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=norm_first, activation="gelu")
    x, mask = randn(rng, b, t, d), causal_mask(t)
    check_block(learner, load(learner, layer, kwargs)(x, mask=mask), layer, x, mask=mask, tol=F64,
                case=f"a causal mask, norm_first={norm_first}",
                hint="Pass the mask on to your attention; True means 'may attend'.", names={"mask-ignored"})


def test_key_padding_mask(learner, rng):
    """a (B, T) key padding mask; padded positions' own outputs are not compared"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=False, activation="relu")
    x, pad = randn(rng, b, t, d), padding_mask(rng, b, t)
    got = load(learner, layer, kwargs)(x, key_padding_mask=pad)
    # PyTorch's fast path may output zeros at padded positions (pytorch#86120); compare real tokens only.
    expected = run_reference(layer.train(), x, pad=pad)  # dropout is 0: train mode only avoids the fast path
    layer.eval()
    if not isinstance(got, torch.Tensor) or got.shape != x.shape:
        raise GradingFailure(f"TransformerBlock.forward with key padding: expected a tensor of shape {tuple(x.shape)}.")
    check_block(learner, got, layer, x, pad=pad, expected=expected, only=~pad, tol=F64,
                what="TransformerBlock.forward at real (non-padding) tokens",
                case=f"key padding {pad.int().tolist()} (1 = padding)",
                hint="key_padding_mask (True = padding) must reach your attention and mask the keys.",
                names={"key-padding-ignored"})


def test_large_scores(learner, rng):
    """attention scores up to 1500 (|scores| >= 1e3): no overflow, no NaN"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=False, activation="relu")
    x = randn(rng, b, t, d)
    weights = BlockWeights.of(layer)
    layer = torch_layer(BlockWeights(large_scores(weights.attn, x), weights.linear1, weights.linear2, weights.norm1,
                                     weights.norm2, weights.eps, weights.activation, weights.norm_first))
    check_block(learner, load(learner, layer, kwargs)(x), layer, x, tol=F64,
                case=f"x {tuple(x.shape)}, post-LN, W_q and W_k scaled so that the largest |score| is 1500")


def test_dropout_is_off_in_eval_mode(learner, rng):
    """dropout=0.3 after .eval(): equal to PyTorch, and deterministic"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=True, activation="relu", dropout=0.3)
    module = load(learner, layer, kwargs)
    x = randn(rng, b, t, d)
    check_block(learner, module(x), layer, x, tol=F64, what="TransformerBlock.forward in eval mode",
                case="dropout=0.3 after .eval()", names={"dropout-in-eval"},
                hint="Dropout still active in eval mode? Use nn.Dropout, or F.dropout(x, p, training=self.training).")


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_train_mode_with_dropout_one(learner, rng, norm_first):
    """train mode with dropout=1: PyTorch drops both sub-layers' outputs (post-LN: norm2(norm1(x)); pre-LN: x)"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=norm_first, activation="relu", dropout=1.0)
    module = load(learner, layer, kwargs).train()
    x = randn(rng, b, t, d)
    learner.seed(randint(rng, 0, 2**30))
    got = module(x)
    with torch.no_grad():
        expected = layer.train()(x)
    weights = BlockWeights.of(layer.eval())
    with explained(learner, "block", got=got, predict=lambda variant: model_block(weights, x, variant, dropped=True)):
        check_tensor(got, expected, what="TransformerBlock.forward in train mode", **F64,
                     case=f"dropout=1.0, norm_first={norm_first}: PyTorch drops the attention weights, the attention "
                          "sub-layer's output, the feed-forward's hidden units and its output")


@pytest.mark.parametrize("path", ["attention", "feed-forward"])
def test_train_mode_dropout_statistics(learner, rng, path):
    """train mode with dropout=0.4: how often each sub-layer's output is dropped, and how it is scaled"""
    p, t = 0.4, 2 if path == "attention" else 5
    d, heads = 12, 3
    weights = block_attention_case(d, heads, 20) if path == "attention" else block_ff_case(d, heads, 2 * d)
    kwargs = block_kwargs(weights, dropout=p)
    module = load(learner, torch_layer(weights, dropout=p), kwargs).train()
    x = randn(rng, 160, t, d)
    learner.seed(randint(rng, 0, 2**30))
    got = module(x)
    if not isinstance(got, torch.Tensor) or got.shape != x.shape:
        check_tensor(got, x, what="TransformerBlock.forward in train mode", case=f"dropout={p}", **F64)
    expected = block_attention_expected(REFERENCE, p, t) if path == "attention" else block_ff_expected(REFERENCE, p)
    observed = block_stats(got, x, 1.0)
    if not same_stats(observed, expected):
        where = ("attention (its weights, then dropout1 on its output)" if path == "attention"
                 else "the feed-forward (after the activation, then dropout2 on its output)")
        with explained(learner, "block"):
            raise GradingFailure(
                f"TransformerBlock in train mode with dropout={p}, pre-LN, with weights that make {path} add a known "
                f"value to every feature: {observed.describe()} (in units of that value). nn.TransformerEncoderLayer "
                f"drops in {where}: {expected.describe()} expected.",
                "Apply dropout where nn.TransformerEncoderLayer does: on the attention weights, on the attention "
                "sub-layer's output, after the feed-forward's activation and on its output, with nn.Dropout(p).",
                names=DROPOUT_NAMES)


def test_layer_norm_alone(learner, rng):
    """your LayerNorm against its definition (biased variance, eps inside the sqrt)"""
    d = randint(rng, 8, 11)
    x = randn(rng, 4, 5, d, scale=0.3) + 2.0
    for eps in (1e-5, 0.1):
        module = learner.construct("LayerNorm", d, eps=eps).to(torch.float64)
        got = module(x)
        expected = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps)
        with explained(learner, "layer-norm", got=got, predict=lambda variant: layer_norm(x, None, None, eps, variant)):
            check_tensor(got, expected, what="LayerNorm.forward", case=f"d_model={d}, eps={eps}", **F64)


def test_batch_items_are_independent_and_inputs_unchanged(learner, rng):
    """batch items are independent; x and the masks are not modified"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=True, activation="gelu")
    module = load(learner, layer, kwargs)
    x, mask, pad = randn(rng, b, t, d), causal_mask(t), padding_mask(rng, b, t)
    full, args = module.call_keeping_args(x, mask, pad)
    for name, before, after in zip(("x", "mask", "key_padding_mask"), (x, mask, pad), args):
        check_unchanged(before, after, what=f"Input {name}")
    if not isinstance(full, torch.Tensor) or full.shape != x.shape:
        raise GradingFailure(f"TransformerBlock.forward: expected a tensor of shape {tuple(x.shape)}.")
    with explained(learner, "block"):
        check_tensor(module(x[:1], mask, pad[:1]), full[:1], what="the first batch item's output",
                     case="alone vs inside the batch", atol=1e-9, rtol=1e-7, hint="Something mixes batch items.",
                     names={"batch-first-confusion", "batch-heads-mixed"})
