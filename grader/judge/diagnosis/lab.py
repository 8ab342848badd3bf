"""The learner's modules a unit's probes call, built from weights the judge chose.

Weights reach the learner's module only through its ``load_torch_weights``
(from the PyTorch module they describe), never through its attribute names, so
a probe works whatever the learner called things. A module is built once per
worker process (a crash or timeout starts a fresh worker, whose handles are new).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn

from grader.judge.diagnosis.attention_model import MhaWeights
from grader.judge.diagnosis.block_model import BlockWeights, block_state

F64 = torch.float64


def torch_mha(w: MhaWeights, *, dropout: float = 0.0) -> nn.MultiheadAttention:
    module = nn.MultiheadAttention(w.d_model, w.heads, batch_first=True, bias=w.in_bias is not None, dropout=dropout,
                                   dtype=F64)
    module.load_state_dict(w.state())
    return module.eval()


def mha_kwargs(w: MhaWeights, *, dropout: float = 0.0) -> dict:
    return {"embed_dim": w.d_model, "num_heads": w.heads, "batch_first": True, "bias": w.in_bias is not None,
            "dropout": dropout}


def block_kwargs(w: BlockWeights, *, dropout: float = 0.0) -> dict:
    return {"d_model": w.attn.d_model, "nhead": w.attn.heads, "dim_feedforward": w.linear1[0].shape[0],
            "dropout": dropout, "activation": w.activation, "layer_norm_eps": w.eps, "batch_first": True,
            "norm_first": w.norm_first, "bias": w.attn.in_bias is not None}


def torch_layer(w: BlockWeights, *, dropout: float = 0.0) -> nn.TransformerEncoderLayer:
    module = nn.TransformerEncoderLayer(**block_kwargs(w, dropout=dropout), dtype=F64)
    module.load_state_dict(block_state(w))
    return module.eval()


class Lab:
    """Builds (once per worker) the learner's modules that probes call."""

    def __init__(self, learner):
        self.learner = learner
        self._built: dict[str, tuple[int, object]] = {}

    def _once(self, key: str, make: Callable[[], object]):
        worker = id(self.learner.worker)
        if key not in self._built or self._built[key][0] != worker:
            module = make()
            self._built[key] = (id(self.learner.worker), module)
        return self._built[key][1]

    def mha(self, key: str, w: MhaWeights, *, dropout: float = 0.0, train: bool = False):
        def make():
            bias = w.in_bias is not None
            module = self.learner.construct("MultiHeadAttention", w.d_model, w.heads, bias=bias,
                                            dropout=dropout).to(F64)
            module.method("load_torch_weights", self.learner.reference_module(
                torch_mha(w, dropout=dropout), "MultiheadAttention", mha_kwargs(w, dropout=dropout), F64))
            return module.train() if train else module.eval()

        return self._once(key, make)

    def self_attention(self, key: str, w: MhaWeights):
        def make():
            bias = w.in_bias is not None
            module = self.learner.construct("SelfAttention", w.d_model, bias=bias).to(F64)
            module.method("load_torch_weights", self.learner.reference_module(
                torch_mha(w), "MultiheadAttention", mha_kwargs(w), F64))
            return module.eval()

        return self._once(key, make)

    def block(self, key: str, w: BlockWeights, *, dropout: float = 0.0, train: bool = False):
        def make():
            kw = block_kwargs(w, dropout=dropout)
            module = self.learner.construct("TransformerBlock", kw["d_model"], kw["nhead"], kw["dim_feedforward"],
                                            dropout=dropout, activation=w.activation, norm_first=w.norm_first,
                                            layer_norm_eps=w.eps, bias=kw["bias"]).to(F64)
            module.method("load_torch_weights", self.learner.reference_module(
                torch_layer(w, dropout=dropout), "TransformerEncoderLayer", kw, F64))
            return module.train() if train else module.eval()

        return self._once(key, make)

    def layer_norm(self, key: str, d: int, eps: float):
        return self._once(key, lambda: self.learner.construct("LayerNorm", d, eps=eps).to(F64).eval())


def random_mha(rng: torch.Generator, d_model: int, heads: int, *, bias: bool = True, scale: float = 0.4) -> MhaWeights:
    def draw(*shape):
        return torch.randn(*shape, generator=rng, dtype=F64) * scale

    return MhaWeights(heads, draw(3 * d_model, d_model), draw(3 * d_model) if bias else None,
                      draw(d_model, d_model), draw(d_model) if bias else None)


def with_biases(w: MhaWeights, keep: set[str]) -> MhaWeights:
    """``w`` with every bias group not in ``keep`` (q, k, v, out) set to zero."""
    d = w.d_model
    chunks = [c if name in keep else torch.zeros_like(c) for name, c in zip("qkv", w.in_bias.chunk(3))]
    out = w.out_bias if "out" in keep else torch.zeros(d, dtype=F64)
    return MhaWeights(w.heads, w.in_weight, torch.cat(chunks), w.out_weight, out)


def seeded_call(learner, module, *args, seed: int = 0, **kwargs):
    """module(*args) right after seeding the worker: train-mode calls that can be repeated."""
    learner.seed(seed)
    return module(*args, **kwargs)
