"""Attention as the judge computes it (float64), able to make the known mistakes.

``variant`` is an ``engine.Variant`` (or the engine's recorder of the
reference): the models ask it ``has(id)`` / ``param(id)`` at the point where
that mistake would change the computation, and nowhere else, so that a mistake
a probe never reaches costs nothing to predict. Ids are defined in
``catalogue.py``.

The reference variant reproduces PyTorch: ``F.scaled_dot_product_attention``
and ``nn.MultiheadAttention(batch_first=True)`` (tests/grader/judge/diagnosis
prove it), with the challenge's convention that a query with no key to attend
to gets zeros from attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from grader.judge.diagnosis.engine import Unpredictable

NEG_INF = float("-inf")


def scale_of(variant, d_k: int, *, d_v: int | None = None, d_model: int | None = None) -> float:
    """What the scores are multiplied by."""
    if variant.has("scale-constant"):
        return float(variant.param("scale-constant"))
    if variant.has("no-scale"):
        return 1.0
    if variant.has("scale-by-d"):
        return 1.0 / d_k
    if variant.has("scale-multiplied"):
        return math.sqrt(d_k)
    if d_model is not None and variant.has("scale-d-model"):
        return 1.0 / math.sqrt(d_model)
    if d_v is not None and variant.has("scale-by-d-v"):
        return 1.0 / math.sqrt(d_v)
    return 1.0 / math.sqrt(d_k)


def softmax(scores: torch.Tensor, dim: int, variant) -> torch.Tensor:
    if variant.has("softmax-without-max"):
        e = scores.exp()  # overflows to inf once a score passes ~709: inf / inf is NaN
        return e / e.sum(dim, keepdim=True)
    return torch.softmax(scores, dim)


def attend(q, k, v, allowed, variant, *, scale: float, heads: bool = False, dropped: str = "",
           rows=None) -> torch.Tensor:
    """softmax(q k^T * scale) v over the last two axes; ``allowed`` (True = may attend) broadcasts
    to (..., T_q, T_k) or is None. ``dropped``: where dropout with p = 1 zeroes everything (train mode):
    "weights" (PyTorch), "scores" (before the softmax), or "" (not here). ``rows``: the mask whose
    fully masked rows give zeros, when it is not ``allowed`` (the mask as given, when the mistake is
    in how the scores are masked)."""
    scores = q @ k.transpose(-2, -1)
    after = variant.has("scale-after-softmax")
    if not after:
        scores = scores * scale
    if dropped == "scores":
        scores = scores * 0.0
    zero_empty, after_softmax = True, False
    if allowed is not None:
        fill = NEG_INF
        if variant.has("finite-fill"):
            fill, zero_empty = variant.param("finite-fill")
        elif variant.has("empty-rows-nan"):
            zero_empty = False
        if variant.has("mask-after-softmax"):
            after_softmax = True
        elif variant.has("bool-mask-added"):
            scores, zero_empty = scores + allowed.to(scores.dtype), False
        else:
            scores = scores.masked_fill(~allowed, fill)
    dim = -1
    if variant.has("softmax-over-queries"):
        dim = -2
    elif heads and variant.has("softmax-over-heads"):
        dim = 1
    weights = softmax(scores, dim, variant)
    if allowed is not None and after_softmax:
        weights = weights.masked_fill(~allowed, 0.0)
    elif rows is not None:
        weights = weights.masked_fill(~rows.any(-1, keepdim=True), 0.0)
    elif allowed is not None and zero_empty:
        weights = weights.masked_fill(~allowed.any(-1, keepdim=True), 0.0)
    if after:
        weights = weights * scale
    if dropped == "weights":
        weights = weights * 0.0
    return weights @ v


def sdpa(q, k, v, mask, variant) -> torch.Tensor:
    """The learner's scaled_dot_product_attention(q, k, v, mask) under ``variant``."""
    q, k, v = q.double(), k.double(), v.double()
    allowed, rows = mask, None
    if mask is not None:
        if variant.has("mask-ignored"):
            allowed, rows = None, (mask if variant.param("mask-ignored") else None)
        else:
            if variant.has("mask-inverted"):
                allowed = ~allowed
            if variant.has("mask-transposed"):
                allowed = allowed.transpose(-2, -1)
                rows = mask if variant.param("mask-transposed") else None
    scale = scale_of(variant, q.size(-1), d_v=v.size(-1))
    try:
        return attend(q, k, v, allowed, variant, scale=scale, rows=rows)
    except RuntimeError as error:  # e.g. a transposed (T_q, T_k) mask does not broadcast
        raise Unpredictable(str(error)) from error


# -- multi-head attention ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MhaWeights:
    """The weights of an nn.MultiheadAttention, in float64."""

    heads: int
    in_weight: torch.Tensor  # (3D, D), rows [W_q; W_k; W_v]
    in_bias: torch.Tensor | None  # (3D,)
    out_weight: torch.Tensor  # (D, D)
    out_bias: torch.Tensor | None  # (D,)

    @classmethod
    def of(cls, mha) -> "MhaWeights":
        def f64(t):
            return None if t is None else t.detach().to(torch.float64)

        return cls(mha.num_heads, f64(mha.in_proj_weight), f64(mha.in_proj_bias), f64(mha.out_proj.weight),
                   f64(mha.out_proj.bias))

    @property
    def d_model(self) -> int:
        return self.out_weight.shape[0]

    def state(self) -> dict[str, torch.Tensor]:
        """The state dict of the nn.MultiheadAttention these weights describe."""
        state = {"in_proj_weight": self.in_weight, "out_proj.weight": self.out_weight}
        if self.in_bias is not None:
            state |= {"in_proj_bias": self.in_bias, "out_proj.bias": self.out_bias}
        return state


PERMUTATIONS = ((1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1))  # q, k, v chunks taken in this order
BIAS_GROUPS = ("q", "k", "v", "out")


def allowed_of(b: int, t: int, mask, pad, variant) -> torch.Tensor | None:
    """(B, 1, T, T) True = may attend, from a (T, T) or (B, T, T) mask and a (B, T) padding mask."""
    if mask is None and pad is None:
        return None
    parts = []
    if mask is not None and not variant.has("mask-ignored"):
        m = mask if mask.dim() == 2 else mask[:, None]
        if variant.has("mask-inverted"):
            m = ~m
        if variant.has("mask-transposed"):
            m = m.transpose(-2, -1)
        parts.append(m.expand(b, 1, t, t))
    if pad is not None and not variant.has("key-padding-ignored"):
        p = ~pad if variant.has("key-padding-inverted") else pad
        parts.append((~p[:, None, :, None] if variant.has("padding-on-queries") else ~p[:, None, None, :])
                     .expand(b, 1, t, t))
    if not parts:
        return None
    if len(parts) == 2 and variant.has("masks-combined-with-or"):
        return parts[0] | parts[1]
    return parts[0] & parts[1] if len(parts) == 2 else parts[0]


def _projections(w: MhaWeights, variant):
    d = w.d_model
    wq, wk, wv = w.in_weight.chunk(3)
    has_bias = w.in_bias is not None
    if has_bias and variant.has("biases-not-loaded"):
        raise Unpredictable("the learner's own initial biases")
    zero = torch.zeros(d, dtype=torch.float64)
    bq, bk, bv = w.in_bias.chunk(3) if has_bias else (zero, zero, zero)
    bo = w.out_bias if has_bias else zero
    if variant.has("qk-swapped"):
        wq, wk, bq, bk = wk, wq, bk, bq
    if variant.has("qkv-chunks-permuted"):
        order = variant.param("qkv-chunks-permuted")
        (wq, wk, wv), (bq, bk, bv) = ([(wq, wk, wv)[i] for i in order], [(bq, bk, bv)[i] for i in order])
    if has_bias and variant.has("bias-chunks-permuted"):
        bq, bk, bv = [(bq, bk, bv)[i] for i in variant.param("bias-chunks-permuted")]
    if has_bias:
        missing = set()
        for name, groups in (("no-bias", BIAS_GROUPS), ("no-out-bias", ("out",)), ("no-qkv-bias", ("q", "k", "v")),
                             ("no-q-bias", ("q",)), ("no-v-bias", ("v",))):
            if variant.has(name):
                missing.update(groups)
        bq, bk, bv, bo = (zero if g in missing else b for g, b in zip(BIAS_GROUPS, (bq, bk, bv, bo)))
    transposed = set()
    if variant.has("no-transpose-weights"):
        transposed = {"in", "out"}
    elif variant.has("no-transpose-out-weight"):
        transposed = {"out"}
    elif variant.has("no-transpose-in-weights"):
        transposed = {"in"}
    return (wq, bq), (wk, bk), (wv, bv), (w.out_weight, bo), transposed


def _split(z, b, t, h, variant):
    dh = z.shape[-1] // h
    if variant.has("heads-without-transpose"):
        return z.reshape(b, h, t, dh)
    if variant.has("heads-interleaved"):
        return z.reshape(b, t, dh, h).permute(0, 3, 1, 2)
    return z.reshape(b, t, h, dh).transpose(1, 2)


def _merge(y, b, t, d, variant):
    h, dh = y.shape[1], y.shape[-1]
    if variant.has("merge-without-transpose"):
        return y.reshape(b, t, d)
    if variant.has("merge-interleaved"):
        return y.permute(0, 2, 3, 1).reshape(b, t, d)
    if variant.has("batch-heads-mixed"):
        return y.reshape(b * h, t, dh).reshape(h, b, t, dh).permute(1, 2, 0, 3).reshape(b, t, d)
    return y.transpose(1, 2).reshape(b, t, d)


def dropout_site(variant) -> str:
    """Where multi-head attention's dropout acts in train mode: PyTorch drops attention weights."""
    if variant.has("dropout-never-applied"):
        return ""
    if variant.has("dropout-on-scores"):
        return "scores"
    if variant.has("dropout-after-out-proj"):
        return "output"
    return "weights"


def mha(w: MhaWeights, x, variant, *, mask=None, pad=None, dropped: bool = False,
        dropout: float = 0.0) -> torch.Tensor:
    """The learner's multi-head attention forward(x, mask, key_padding_mask) under ``variant``;
    ``dropped``: train mode with dropout p = 1 (PyTorch drops every attention weight); ``dropout``:
    the module's p in eval mode (dropout still active in eval makes the output unpredictable)."""
    if dropout > 0 and not dropped and variant.has("dropout-in-eval"):
        raise Unpredictable("dropout active in eval mode: a random output")
    x = x.double()
    if variant.has("batch-first-confusion"):
        if mask is not None or pad is not None:
            raise Unpredictable("masks over a (T, B) layout")
        return mha(w, x.transpose(0, 1), _without(variant, "batch-first-confusion"), dropped=dropped).transpose(0, 1)
    b, t, d = x.shape
    h = w.heads
    (wq, bq), (wk, bk), (wv, bv), (wo, bo), transposed = _projections(w, variant)

    def linear(z, weight, bias, part):
        return z @ (weight if part in transposed else weight.T) + bias

    q, k, v = linear(x, wq, bq, "in"), linear(x, wk, bk, "in"), linear(x, wv, bv, "in")
    split_heads = h
    if variant.has("heads-not-split"):
        split_heads = 1
    q, k, v = (_split(z, b, t, split_heads, variant) for z in (q, k, v))
    allowed = allowed_of(b, t, mask, pad, variant)
    rows = None
    if mask is not None:
        for mistake in ("mask-ignored", "mask-transposed"):  # True: rows with no key are found on the mask as given
            if variant.has(mistake) and variant.param(mistake):
                rows = allowed_of(b, t, mask, pad, _without(variant, mistake))
    scale = scale_of(variant, d // h, d_model=d)
    site = ""
    if dropped and not variant.has("dropout-keep-probability"):  # p = 1 read as keep everything
        site = dropout_site(variant)
    y = attend(q, k, v, allowed, variant, scale=scale, heads=True, dropped=site, rows=rows)
    y = _merge(y, b, t, d, variant)
    if variant.has("no-out-proj"):
        return y
    out = linear(y, wo, bo, "out")
    if site == "output":
        out = out * 0.0
    return out


class _Without:
    """A variant with one mistake hidden (batch-first confusion re-enters the model once)."""

    def __init__(self, variant, hidden: str):
        self.variant, self.hidden = variant, hidden

    def has(self, mistake: str) -> bool:
        return mistake != self.hidden and self.variant.has(mistake)

    def param(self, mistake: str, default=None):
        return default if mistake == self.hidden else self.variant.param(mistake, default)


def _without(variant, hidden: str):
    return _Without(variant, hidden)


def self_attention(w: MhaWeights, x, variant, *, mask=None) -> torch.Tensor:
    """The learner's SelfAttention.forward(x, mask): one head, a (T, T) or (B, T, T) mask."""
    return mha(w, x, variant, mask=mask)

