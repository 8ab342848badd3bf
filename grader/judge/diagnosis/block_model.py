"""LayerNorm and the encoder block as the judge computes them (float64), able to make the
known mistakes (see ``attention_model`` for how a variant is consulted).

The reference variant reproduces ``nn.TransformerEncoderLayer(batch_first=True)``
in eval mode, and in train mode with dropout p = 1 (everything PyTorch drops is
zero: the attention weights, the attention sub-layer's output, the
feed-forward's hidden units and its output).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from grader.judge.diagnosis.attention_model import MhaWeights, mha
from grader.judge.diagnosis.engine import Unpredictable

LN_AXES = ((-2,), (-2, -1), (0,))  # normalising over the tokens, over tokens and features, over the batch
LN_EPS = (1e-5, 1e-6, 1e-12, 0.0)  # what a hard-coded eps usually is


def layer_norm(z: torch.Tensor, weight, bias, eps: float, variant) -> torch.Tensor:
    """(z - mean) / sqrt(var + eps) * weight + bias over the last axis; weight/bias may be None."""
    dims = (-1,)
    if variant.has("ln-wrong-axis"):
        dims = variant.param("ln-wrong-axis")
    if variant.has("ln-eps-ignored"):
        eps = variant.param("ln-eps-ignored")
    n = 1
    for dim in dims:
        n *= z.shape[dim]
    if variant.has("ln-no-centering"):  # RMSNorm, not LayerNorm
        centred = z
    else:
        centred = z - z.mean(dims, keepdim=True)
    if variant.has("unbiased-variance"):
        var = centred.pow(2).sum(dims, keepdim=True) / (n - 1)
    elif variant.has("variance-not-centred"):
        var = z.pow(2).mean(dims, keepdim=True)
    else:
        var = centred.pow(2).mean(dims, keepdim=True)
    if variant.has("eps-outside-sqrt"):
        y = centred / (var.sqrt() + eps)
    elif variant.has("ln-divides-by-variance"):
        y = centred / (var + eps)
    else:
        y = centred / torch.sqrt(var + eps)
    if weight is None:
        return y
    w, b = weight.double(), (bias.double() if bias is not None else None)
    if variant.has("ln-not-loaded"):
        w, b = torch.ones_like(w), (torch.zeros_like(b) if b is not None else None)
    if b is not None and variant.has("ln-weight-bias-swapped"):
        w, b = b, w
    if b is not None and variant.has("ln-bias-missing"):
        b = None
    return y * w + b if b is not None else y * w


@dataclass(frozen=True)
class BlockWeights:
    """The weights and settings of an nn.TransformerEncoderLayer, in float64."""

    attn: MhaWeights
    linear1: tuple[torch.Tensor, torch.Tensor | None]
    linear2: tuple[torch.Tensor, torch.Tensor | None]
    norm1: tuple[torch.Tensor, torch.Tensor | None]
    norm2: tuple[torch.Tensor, torch.Tensor | None]
    eps: float
    activation: str  # relu | gelu
    norm_first: bool

    @classmethod
    def of(cls, layer) -> "BlockWeights":
        def pair(module):
            bias = module.bias.detach().double() if module.bias is not None else None
            return module.weight.detach().double(), bias

        return cls(MhaWeights.of(layer.self_attn), pair(layer.linear1), pair(layer.linear2), pair(layer.norm1),
                   pair(layer.norm2), float(layer.norm1.eps), "gelu" if layer.activation_relu_or_gelu == 2 else "relu",
                   bool(layer.norm_first))


def _linear(z, weight_bias):
    weight, bias = weight_bias
    return z @ weight.T + bias if bias is not None else z @ weight.T


def _activation(z, kind: str, variant):
    if variant.has("no-activation"):
        return z
    if variant.has("always-relu"):
        kind = "relu"
    elif variant.has("always-gelu"):
        kind = "gelu"
    elif variant.has("activation-swapped"):
        kind = "gelu" if kind == "relu" else "relu"
    if kind == "gelu":
        return F.gelu(z, approximate="tanh" if variant.has("tanh-gelu") else "none")
    return F.relu(z)


def dropout_sites(variant) -> set[str]:
    """Where the block's dropout acts in train mode (PyTorch: all four)."""
    if variant.has("dropout-never-applied"):
        return set()
    sites = {"attention", "ff-hidden", "ff-output"}
    if variant.has("no-dropout-after-attention"):
        sites.discard("attention")
    if variant.has("no-dropout-ff-hidden"):
        sites.discard("ff-hidden")
    if variant.has("no-dropout-ff-output"):
        sites.discard("ff-output")
    return sites


def block(w: BlockWeights, x, variant, *, mask=None, pad=None, dropped: bool = False,
          dropout: float = 0.0) -> torch.Tensor:
    """The learner's TransformerBlock.forward(x, mask, key_padding_mask) under ``variant``;
    ``dropped``: train mode with dropout p = 1; ``dropout``: the module's p in eval mode."""
    if dropout > 0 and not dropped and variant.has("dropout-in-eval"):
        raise Unpredictable("dropout active in eval mode: a random output")
    x = x.double()
    sites = set()
    if dropped and not variant.has("dropout-keep-probability"):  # p = 1 read as keep everything
        sites = dropout_sites(variant)

    def norm(z, which: int):
        if variant.has("norm1-used-twice"):
            which = 1
        elif variant.has("norm2-used-twice"):
            which = 2
        elif variant.has("norms-swapped"):
            which = 3 - which
        weight, bias = w.norm1 if which == 1 else w.norm2
        return layer_norm(z, weight, bias, w.eps, variant)

    def sa(z):
        out = mha(w.attn, z, variant, mask=mask, pad=pad, dropped=dropped and bool(sites))
        return out * 0.0 if "attention" in sites else out

    def ff(z):
        linear1, linear2 = w.linear1, w.linear2
        if linear1[1] is not None and variant.has("no-ff-bias"):
            linear1, linear2 = (linear1[0], None), (linear2[0], None)
        hidden = _activation(_linear(z, linear1), w.activation, variant)
        if "ff-hidden" in sites:
            hidden = hidden * 0.0
        out = _linear(hidden, linear2)
        return out * 0.0 if "ff-output" in sites else out

    first = w.norm_first
    if variant.has("ln-order-swapped"):
        first = not first
    if first:
        if variant.has("residual-from-normed"):
            x = norm(x, 1)
            x = x + sa(x)
            x = norm(x, 2)
            return x + ff(x)
        if variant.has("parallel-sublayers"):
            return x + sa(norm(x, 1)) + ff(norm(x, 2))
        attended = sa(norm(x, 1))
        x = attended if _no_residual(variant, "attention") else x + attended
        fed = ff(norm(x, 2))
        return fed if _no_residual(variant, "ff") else x + fed
    if variant.has("norm-inside-residual"):
        x = x + norm(sa(x), 1)
        return x + norm(ff(x), 2)
    attended = sa(x)
    x = norm(attended if _no_residual(variant, "attention") else x + attended, 1)
    fed = ff(x)
    return norm(fed if _no_residual(variant, "ff") else x + fed, 2)


def _no_residual(variant, which: str) -> bool:
    if variant.has("no-residual"):
        return True
    return variant.has("no-attention-residual") if which == "attention" else variant.has("no-ff-residual")


def block_state(w: BlockWeights) -> dict[str, torch.Tensor]:
    """The state dict of the nn.TransformerEncoderLayer these weights describe."""
    state = {f"self_attn.{k}": v for k, v in w.attn.state().items()}
    for name, (weight, bias) in (("linear1", w.linear1), ("linear2", w.linear2), ("norm1", w.norm1),
                                 ("norm2", w.norm2)):
        state[f"{name}.weight"] = weight
        if bias is not None:
            state[f"{name}.bias"] = bias
    return state
