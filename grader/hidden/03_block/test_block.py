"""Hidden tests for milestone 3: the encoder block against nn.TransformerEncoderLayer."""

import pytest
import torch

from grader.judge.compare import F64, GradingFailure, Mistake, check_tensor, check_unchanged
from grader.judge.block import allowed_from, load, make_layer, mistakes_for, run_reference, sizes
from grader.judge.support import DTYPES, causal_mask, padding_mask, randint, randn

CONFIGS = [(nf, act) for nf in (False, True) for act in ("relu", "gelu")]
CONFIG_IDS = [f"{'pre' if nf else 'post'}-LN-{act}" for nf, act in CONFIGS]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("norm_first,activation", CONFIGS, ids=CONFIG_IDS)
def test_matches_torch_encoder_layer(learner, rng, norm_first, activation, dtype):
    """matches nn.TransformerEncoderLayer with the same (non-trivial) weights"""
    torch_dtype, tol = DTYPES[dtype]
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=norm_first, activation=activation, dtype=torch_dtype)
    module = load(learner, layer, kwargs, torch_dtype)
    x = randn(rng, b, t, d, dtype=torch_dtype)
    check_tensor(module(x), run_reference(layer, x), what="TransformerBlock.forward",
                 case=f"x {tuple(x.shape)}, {heads} heads, d_ff={d_ff}, norm_first={norm_first}, {activation}, {dtype}",
                 **tol, mistakes=mistakes_for(layer, x, allowed_from(b, t), norm_first))


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_large_layer_norm_eps(learner, rng, norm_first):
    """layer_norm_eps=0.1, where eps outside the sqrt shows"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=norm_first, activation="relu", eps=0.1)
    module = load(learner, layer, kwargs)
    x = randn(rng, b, t, d, scale=0.5)
    check_tensor(module(x), run_reference(layer, x), what="TransformerBlock.forward",
                 case=f"layer_norm_eps=0.1, norm_first={norm_first}", **F64,
                 mistakes=mistakes_for(layer, x, allowed_from(b, t), norm_first),
                 hint="Is epsilon inside the sqrt, and is it your layer_norm_eps (not a hard-coded 1e-5)?")


def test_without_biases(learner, rng):
    """bias=False everywhere (linear layers, attention and LayerNorm)"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=True, activation="gelu", bias=False)
    x = randn(rng, b, t, d)
    check_tensor(load(learner, layer, kwargs)(x), run_reference(layer, x), what="TransformerBlock.forward",
                 case="bias=False, pre-LN, gelu", **F64, mistakes=mistakes_for(layer, x, allowed_from(b, t), True))


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_causal_mask(learner, rng, norm_first):
    """a (T, T) causal mask"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=norm_first, activation="gelu")
    x, mask = randn(rng, b, t, d), causal_mask(t)
    check_tensor(load(learner, layer, kwargs)(x, mask=mask), run_reference(layer, x, mask=mask),
                 what="TransformerBlock.forward", case=f"a causal mask, norm_first={norm_first}", **F64,
                 mistakes=mistakes_for(layer, x, allowed_from(b, t, mask), norm_first),
                 hint="Pass the mask on to your attention; True means 'may attend'.")


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
    real = ~pad
    check_tensor(got[real], expected[real], what="TransformerBlock.forward at real (non-padding) tokens",
                 case=f"key padding {pad.int().tolist()} (1 = padding)", **F64,
                 hint="key_padding_mask (True = padding) must reach your attention and mask the keys.")


def test_dropout_off_in_eval_and_on_in_train(learner, rng):
    """dropout=0.3: eval mode equals PyTorch; train mode actually drops"""
    b, t, d, heads, d_ff = sizes(rng)
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=True, activation="relu", dropout=0.3)
    module = load(learner, layer, kwargs)
    x = randn(rng, b, t, d)
    check_tensor(module(x), run_reference(layer, x), what="TransformerBlock.forward in eval mode",
                 case="dropout=0.3 after .eval()", **F64,
                 hint="Dropout still active in eval mode? Use nn.Dropout, or F.dropout(x, p, training=self.training).")
    evaluated = module(x)
    module.train()
    learner.seed(0)
    trained = module(x)
    if isinstance(trained, torch.Tensor) and isinstance(evaluated, torch.Tensor) and torch.equal(trained, evaluated):
        raise GradingFailure("TransformerBlock.forward in train mode with dropout=0.3 gave exactly the eval output.",
                             "The dropout argument is not used: apply nn.Dropout(p) after attention and in the feed-forward.")


def test_layer_norm_alone(learner, rng):
    """your LayerNorm against its definition (biased variance, eps inside the sqrt)"""
    d = randint(rng, 3, 9)
    x = randn(rng, 4, 5, d, scale=0.3) + 2.0
    for eps in (1e-5, 0.1):
        module = learner.construct("LayerNorm", d, eps=eps).to(torch.float64)
        expected = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=False) + eps)
        eps_out = (x - x.mean(-1, keepdim=True)) / (x.var(-1, keepdim=True, unbiased=False).sqrt() + eps)
        unbiased = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, keepdim=True, unbiased=True) + eps)
        check_tensor(module(x), expected, what="LayerNorm.forward", case=f"d_model={d}, eps={eps}", **F64, mistakes=[
            Mistake("eps outside the square root: (x - mean) / (std + eps). Is epsilon inside the sqrt?", lambda: eps_out),
            Mistake("the unbiased variance (n - 1); LayerNorm uses the biased one (unbiased=False).", lambda: unbiased)])


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
    check_tensor(module(x[:1], mask, pad[:1]), full[:1], what="the first batch item's output",
                 case="alone vs inside the batch", atol=1e-9, rtol=1e-7, hint="Something mixes batch items.")
