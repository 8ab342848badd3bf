"""The judge's transformer block: nn.TransformerEncoderLayer built and loaded into the
learner's TransformerBlock, and the comparison of the two, explained by the "block"
probes (grader.judge.diagnosis). Shared by the hidden tests of milestone 3 (the block)
and milestone 11 (hand-coded programs run through the learner's block)."""

import torch
import torch.nn as nn

from grader.judge.compare import check_tensor
from grader.judge.diagnosis import BlockWeights, explained
from grader.judge.diagnosis import block as model_block
from grader.judge.support import distinct_sizes, init_nontrivial, randint


def sizes(rng):
    """(batch, tokens, d_model, heads, d_ff), all distinct; d_model >= 8 in >= 2 heads: with fewer features
    LayerNorm is nearly a sign function and hides mistakes before it."""
    while True:
        b, t = distinct_sizes(rng, 2, 2, 7)
        heads = randint(rng, 2, 3)
        d_model = heads * randint(rng, 4, 5)
        d_ff = randint(rng, 5, 24)
        if len({b, t, d_model, d_ff}) == 4:
            return b, t, d_model, heads, d_ff


def make_layer(rng, d_model, heads, d_ff, *, norm_first, activation, eps=1e-5, bias=True, dropout=0.0,
               dtype=torch.float64):
    layer = nn.TransformerEncoderLayer(d_model, heads, d_ff, dropout=dropout, activation=activation,
                                       layer_norm_eps=eps, batch_first=True, norm_first=norm_first, bias=bias,
                                       dtype=torch.float64)
    init_nontrivial(layer, rng)
    kwargs = {"d_model": d_model, "nhead": heads, "dim_feedforward": d_ff, "dropout": dropout,
              "activation": activation, "layer_norm_eps": eps, "batch_first": True, "norm_first": norm_first,
              "bias": bias}
    return layer.to(dtype).eval(), kwargs


def load(learner, layer, kwargs, dtype=torch.float64):
    module = learner.construct("TransformerBlock", kwargs["d_model"], kwargs["nhead"], kwargs["dim_feedforward"],
                               dropout=kwargs["dropout"], activation=kwargs["activation"],
                               norm_first=kwargs["norm_first"], layer_norm_eps=kwargs["layer_norm_eps"],
                               bias=kwargs["bias"]).to(dtype)
    module.method("load_torch_weights", learner.reference_module(layer, "TransformerEncoderLayer", kwargs, dtype))
    return module.eval()


def run_reference(layer, x, mask=None, pad=None):
    with torch.no_grad():
        return layer(x, src_mask=None if mask is None else ~mask, src_key_padding_mask=pad)


def check_block(learner, got, layer, x, *, case: str, tol: dict, mask=None, pad=None, expected=None, only=None,
                what: str = "TransformerBlock.forward", hint: str = "", names=()) -> None:
    """The learner's output ``got`` against the layer's (or ``expected``); ``only``: the positions compared."""
    if expected is None:
        expected = run_reference(layer, x, mask, pad)
    weights = BlockWeights.of(layer)
    dropout = layer.dropout.p if layer.dropout is not None else 0.0

    def predict(variant):
        out = model_block(weights, x, variant, mask=mask, pad=pad, dropout=dropout)
        return out if only is None else out[only]

    part = got if only is None or not isinstance(got, torch.Tensor) or got.shape != x.shape else got[only]
    with explained(learner, "block", got=part, predict=predict, atol=max(1e-5, 10 * tol["atol"]),
                   rtol=max(1e-4, 10 * tol["rtol"])):
        check_tensor(part, expected if only is None else expected[only], what=what, case=case, **tol, hint=hint,
                     names=names)
