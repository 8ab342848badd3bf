"""The probes of scaled_dot_product_attention(q, k, v, mask) (milestone 1): the function
alone, with inputs that isolate the scale (two sizes of d_k, d_v apart from d_k),
the softmax axis (T_q != T_k), the mask (causal, its transpose, per item, a
fully masked query, scores below -1e4 under a mask) and stability (scores
around 1e3)."""

from __future__ import annotations

import torch

from grader.judge.diagnosis.attention_model import sdpa
from grader.judge.diagnosis.engine import Probe
from grader.judge.diagnosis.lab import F64

SEED = 20240614


def sdpa_probes(learner) -> list[Probe]:
    rng = torch.Generator().manual_seed(SEED)
    function = learner.function("scaled_dot_product_attention")
    probes = []

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=rng, dtype=F64) * scale

    def add(name, label, group, q, k, v, mask=None):
        def observe():
            return function(q, k, v) if mask is None else function(q, k, v, mask)

        probes.append(Probe(name, label, group, observe, lambda variant: sdpa(q, k, v, mask, variant)))

    q, k, v = randn(2, 3, 4), randn(2, 5, 4), randn(2, 5, 6)
    add("plain", "no mask", "basic", q, k, v)
    add("other-d", "d_k=9, d_v=2", "basic", randn(2, 4, 9), randn(2, 3, 9), randn(2, 3, 2))
    add("one-key", "one key", "basic", randn(2, 3, 4), randn(2, 1, 4), randn(2, 1, 6))
    add("batch-axes", "extra batch axes (B, H, T, d)", "basic", randn(2, 3, 4, 5), randn(2, 3, 6, 5),
        randn(2, 3, 6, 7))
    t = 5
    qs, ks, vs = randn(3, t, 4), randn(3, t, 4), randn(3, t, 6)
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    add("causal", "a causal mask", "masks", qs, ks, vs, causal)
    add("anti-causal", "the causal mask transposed", "masks", qs, ks, vs, causal.T.contiguous())
    per_item = torch.rand(2, 3, 5, generator=rng) < 0.5
    per_item[..., 1] = True
    per_item[..., 0] = False  # a key no query may see: transposed, a query that sees nothing
    add("per-item", "a (B, T_q, T_k) mask", "masks", q, k, v, per_item)
    empty = per_item.clone()
    empty[0, 1] = False
    add("empty-row", "a query with every key masked", "masks", q, k, v, empty)
    q_low = torch.full((3, t, 4), 100.0, dtype=F64)
    k_low = torch.full((3, t, 4), -100.0, dtype=F64) + randn(3, t, 4, scale=0.01)
    add("very-negative", "scores far below -1e4 under a causal mask", "masks", q_low, k_low, vs, causal)
    add("large", "scores around 1e3", "scale", randn(2, 3, 4, scale=40.0), randn(2, 5, 4, scale=40.0), v)
    return probes
