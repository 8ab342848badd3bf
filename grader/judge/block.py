"""The judge's transformer block: nn.TransformerEncoderLayer built and loaded into the
learner's TransformerBlock, and a float64 functional block that reproduces known
mistakes. Shared by the hidden tests of milestone 3 (the block) and milestone 11
(hand-coded programs run through the learner's block)."""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from grader.judge.compare import Mistake
from grader.judge.support import distinct_sizes, init_nontrivial, randint


def sizes(rng):
    while True:
        b, t = distinct_sizes(rng, 2, 2, 7)
        heads = randint(rng, 1, 3)
        d_model = heads * randint(rng, 2, 4)
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


def functional_block(layer, x, allowed, *, norm_first, mistake=None):
    """A judge-side block that can reproduce known mistakes; allowed: (B, 1, T, T) True = may attend."""
    x = x.double()
    d = x.shape[-1]

    def norm(z, ln):
        eps = ln.eps
        w = ln.weight.double() if ln.weight is not None and mistake != "ln-not-loaded" else 1.0
        b = ln.bias.double() if ln.bias is not None and mistake != "ln-not-loaded" else 0.0
        mean = z.mean(-1, keepdim=True)
        var = z.var(-1, keepdim=True, unbiased=(mistake == "unbiased-variance"))
        if mistake == "eps-outside-sqrt":
            return (z - mean) / (var.sqrt() + eps) * w + b
        return (z - mean) / torch.sqrt(var + eps) * w + b

    def attention(z):
        mha = layer.self_attn
        h, bsz, t = mha.num_heads, z.shape[0], z.shape[1]
        w, bias = mha.in_proj_weight.double(), mha.in_proj_bias
        bias = bias.double() if bias is not None else torch.zeros(3 * d, dtype=torch.float64)
        q, k, v = ((z @ w_i.T + b_i).view(bsz, t, h, d // h).transpose(1, 2) for w_i, b_i in zip(w.chunk(3), bias.chunk(3)))
        scores = (q @ k.transpose(-2, -1) / math.sqrt(d // h)).masked_fill(~allowed, float("-inf"))
        y = (torch.softmax(scores, -1).nan_to_num(0.0) @ v).transpose(1, 2).reshape(bsz, t, d)
        ob = mha.out_proj.bias.double() if mha.out_proj.bias is not None else 0
        return y @ mha.out_proj.weight.double().T + ob

    def act(z):
        if mistake == "tanh-gelu":
            return F.gelu(z, approximate="tanh")
        if mistake == "always-relu":
            return F.relu(z)
        return F.gelu(z) if layer.activation_relu_or_gelu == 2 else F.relu(z)

    def lin(z, linear):
        return z @ linear.weight.double().T + (linear.bias.double() if linear.bias is not None else 0)

    def ff(z):
        return lin(act(lin(z, layer.linear1)), layer.linear2)

    first = (not norm_first) if mistake == "ln-order-swapped" else norm_first
    if first and mistake == "residual-from-normed":
        x = norm(x, layer.norm1)
        x = x + attention(x)
        x = norm(x, layer.norm2)
        return x + ff(x)
    if first:
        x = x + attention(norm(x, layer.norm1))
        return x + ff(norm(x, layer.norm2))
    if mistake == "no-residual":
        x = norm(attention(x), layer.norm1)
        return norm(ff(x), layer.norm2)
    x = norm(x + attention(x), layer.norm1)
    return norm(x + ff(x), layer.norm2)


MISTAKES = {
    "eps-outside-sqrt": "LayerNorm with eps outside the square root: (x - mean) / (std + eps). Is epsilon inside the sqrt?",
    "unbiased-variance": "LayerNorm with the unbiased variance (divides by n - 1); LayerNorm uses the biased one.",
    "ln-order-swapped": "post-LN and pre-LN swapped: norm_first=True means x + attn(norm1(x)).",
    "tanh-gelu": "the tanh approximation of GELU; nn.TransformerEncoderLayer uses the exact (erf) GELU.",
    "always-relu": "the activation argument is ignored (ReLU always).",
    "no-residual": "the residual connections are missing.",
    "ln-not-loaded": "the LayerNorm weights (norm1, norm2: weight and bias) were not loaded.",
    "residual-from-normed": "pre-LN residual taken from the normalised x: it is x + attn(norm1(x)), "
                            "the residual adds the un-normalised x.",
}


def mistakes_for(layer, x, allowed, norm_first):
    return [Mistake(hint, lambda name=name: functional_block(layer, x, allowed, norm_first=norm_first, mistake=name))
            for name, hint in MISTAKES.items()]


def allowed_from(b, t, mask=None, pad=None):
    allowed = torch.ones(b, 1, t, t, dtype=torch.bool)
    if mask is not None:
        allowed = allowed & mask
    if pad is not None:
        allowed = allowed & ~pad[:, None, None, :]
    return allowed


def run_reference(layer, x, mask=None, pad=None):
    with torch.no_grad():
        return layer(x, src_mask=None if mask is None else ~mask, src_key_padding_mask=pad)
