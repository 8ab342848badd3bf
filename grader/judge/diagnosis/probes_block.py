"""The probes of LayerNorm (alone) and TransformerBlock (milestone 3).

The block's parts are isolated by the weights it is loaded with, never by the
learner's attribute names: zero weights and biases switch a sub-layer off
(attention with W_v = W_o = 0 and zero biases adds 0; a feed-forward with zero
linear weights and biases adds 0), so that post-LN with both off is
norm2(norm1(x)), "LayerNorm alone". Sizes: batch 2, 5 tokens, d_model 12 in
3 heads, d_ff 20 (all distinct).
"""

from __future__ import annotations

import torch

from grader.judge.diagnosis import dropout
from grader.judge.diagnosis.attention_model import MhaWeights
from grader.judge.diagnosis.block_model import BlockWeights, block, layer_norm
from grader.judge.diagnosis.engine import NONDETERMINISTIC, REFERENCE, Probe, Unpredictable, same_output, twice
from grader.judge.diagnosis.lab import F64, Lab, random_mha, seeded_call, with_biases
from grader.judge.diagnosis.probes_multihead import causal, large_scores, pads

SEED = 20240615
B, T, D, H, D_FF = 2, 5, 12, 3, 20
DROPOUT_P = 0.4  # block sites are told apart by how often a value is 0: p and p^2 must differ well


def layer_norm_probes(learner) -> list[Probe]:
    """LayerNorm(d_model, eps) alone, as constructed (weight 1, bias 0)."""
    rng = torch.Generator().manual_seed(SEED)
    lab, probes = Lab(learner), []
    d = 7

    def add(name, label, x, eps):
        def observe():
            return lab.layer_norm(f"eps={eps}", d, eps)(x)

        probes.append(Probe(name, label, "LayerNorm", observe, lambda v: layer_norm(x, None, None, eps, v)))

    x = torch.randn(4, 5, d, generator=rng, dtype=F64) * 0.3 + 2.0
    add("default-eps", "eps=1e-5", x, 1e-5)
    add("large-eps", "eps=0.1", x, 0.1)
    add("small-variance", "eps=0.1 and rows of small variance", torch.randn(4, 5, d, generator=rng, dtype=F64) * 0.05,
        0.1)
    add("one-token", "one token per item", x[:, :1], 1e-5)
    return probes


def _random_block(rng, *, norm_first: bool, activation: str, eps: float = 1e-5, bias: bool = True,
                  heads: int = H) -> BlockWeights:
    def draw(*shape, plus=0.0):
        return torch.randn(*shape, generator=rng, dtype=F64) * 0.3 + plus

    def pair(*shape, plus=0.0):
        return draw(*shape, plus=plus), (draw(shape[0]) if bias else None)

    return BlockWeights(random_mha(rng, D, heads, bias=bias, scale=0.3), pair(D_FF, D), pair(D, D_FF),
                        pair(D, plus=1.0), pair(D, plus=1.0), eps, activation, norm_first)


def _replace(w: BlockWeights, **changes) -> BlockWeights:
    fields = {name: getattr(w, name) for name in BlockWeights.__dataclass_fields__}
    return BlockWeights(**(fields | changes))


def _attention_off(w: BlockWeights) -> BlockWeights:
    a = w.attn
    return _replace(w, attn=MhaWeights(a.heads, torch.zeros_like(a.in_weight), torch.zeros_like(a.in_bias),
                                       torch.zeros_like(a.out_weight), torch.zeros_like(a.out_bias)))


def _ff_off(w: BlockWeights) -> BlockWeights:
    return _replace(w, linear1=tuple(torch.zeros_like(t) for t in w.linear1),
                    linear2=tuple(torch.zeros_like(t) for t in w.linear2))


def _only_biases(w: BlockWeights, group: str) -> BlockWeights:
    """``w`` with every bias zero but the group's: attention q/k/v, attention out, LayerNorm, feed-forward."""
    def zero(pair):
        return pair[0], torch.zeros_like(pair[1])

    keep = {"qkv": {"q", "k", "v"}, "out": {"out"}}.get(group, set())
    return _replace(w, attn=with_biases(w.attn, keep),
                    norm1=w.norm1 if group == "norm" else zero(w.norm1), norm2=w.norm2 if group == "norm" else zero(w.norm2),
                    linear1=w.linear1 if group == "ff" else zero(w.linear1),
                    linear2=w.linear2 if group == "ff" else zero(w.linear2))


def block_probes(learner) -> list[Probe]:
    rng = torch.Generator().manual_seed(SEED)
    lab, probes = Lab(learner), []
    x = torch.randn(B, T, D, generator=rng, dtype=F64)

    def add(name, label, group, w, *, mask=None, pad=None, part="", key=None, inputs=None):
        z = x if inputs is None else inputs

        def observe():
            module = lab.block(key or name, w)
            return module(z) if mask is None and pad is None else module(z, mask=mask, key_padding_mask=pad)

        probes.append(Probe(name, label, group, observe, lambda v: block(w, z, v, mask=mask, pad=pad), part=part))

    post_relu = _random_block(rng, norm_first=False, activation="relu")
    pre_gelu = _random_block(rng, norm_first=True, activation="gelu")
    add("post-relu", "post-LN and ReLU", "layouts", post_relu)
    add("pre-gelu", "pre-LN and GELU", "layouts", pre_gelu)
    add("post-gelu", "post-LN and GELU", "layouts", _replace(post_relu, activation="gelu"))
    add("pre-relu", "pre-LN and ReLU", "layouts", _replace(pre_gelu, activation="relu"))
    add("post-eps", "layer_norm_eps=0.1, post-LN", "LayerNorm", _replace(post_relu, eps=0.1))
    add("pre-eps", "layer_norm_eps=0.1, pre-LN", "LayerNorm", _replace(pre_gelu, eps=0.1))
    add("norms-alone", "both sub-layers off (LayerNorm alone)", "sub-layers", _ff_off(_attention_off(post_relu)),
        part="LayerNorm")
    add("attention-pre", "the feed-forward off, pre-LN (the attention sub-layer alone)", "sub-layers",
        _ff_off(pre_gelu), part="the attention sub-layer")
    add("attention-post", "the feed-forward off, post-LN", "sub-layers", _ff_off(post_relu),
        part="the attention sub-layer")
    add("ff-pre", "the attention off, pre-LN (the feed-forward sub-layer alone)", "sub-layers",
        _attention_off(_replace(pre_gelu, activation="relu")), part="the feed-forward sub-layer")
    add("ff-post", "the attention off, post-LN and GELU", "sub-layers",
        _attention_off(_replace(post_relu, activation="gelu")), part="the feed-forward sub-layer")
    for group, label in (("none", "every bias zero"), ("qkv", "only the attention's q/k/v biases non-zero"),
                         ("out", "only out_proj.bias non-zero"), ("norm", "only the LayerNorm biases non-zero"),
                         ("ff", "only the feed-forward biases non-zero")):
        add(f"bias-{group}", label, "biases", _only_biases(post_relu, group))
    add("bias-false", "bias=False", "biases", _random_block(rng, norm_first=True, activation="gelu", bias=False))
    add("one-head", "one head", "heads", _random_block(rng, norm_first=False, activation="relu", heads=1))
    add("causal", "a causal mask", "masks", post_relu, mask=causal(T), key="post-relu")
    add("anti-causal", "the causal mask transposed", "masks", post_relu, mask=causal(T).T, key="post-relu")
    add("padding", "key padding", "masks", post_relu, pad=pads(B, T, [T, 3]), key="post-relu")
    add("large", "scores around 1e3", "scale", _replace(post_relu, attn=large_scores(post_relu.attn, x)))
    probes += _dropout_probes(lab, pre_gelu, post_relu, x)
    return probes


def _dropout_probes(lab: Lab, pre: BlockWeights, post: BlockWeights, x: torch.Tensor) -> list[Probe]:
    def eval_twice():
        module = lab.block("eval-dropout", pre, dropout=0.5)
        return twice(lambda: module(x))

    def predict_eval(variant):
        return NONDETERMINISTIC if variant.has("dropout-in-eval") else block(pre, x, variant)

    def p1(w, key):
        return lambda: seeded_call(lab.learner, lab.block(key, w, dropout=1.0, train=True), x)

    probes = [Probe("eval-dropout", "dropout=0.5 in eval mode", "dropout", eval_twice, predict_eval)]
    for w, key, label in ((pre, "train-p1-pre", "train mode with dropout=1, pre-LN"),
                          (post, "train-p1-post", "train mode with dropout=1, post-LN")):
        probes.append(Probe(key, label, "dropout", p1(w, key), lambda v, w=w: block(w, x, v, dropped=True)))
    for name, w, t, expected, label in (
            ("train-attention", dropout.block_attention_case(D, H, D_FF), 2, dropout.block_attention_expected,
             "the attention sub-layer"),
            ("train-ff", dropout.block_ff_case(D, H, 2 * D), T, None, "the feed-forward sub-layer")):
        z = torch.randn(160, t, D, generator=torch.Generator().manual_seed(SEED), dtype=F64)
        probes.append(_stats_probe(lab, name, label, w, z, expected))
    return probes


def _stats_probe(lab: Lab, name: str, part: str, w: BlockWeights, z: torch.Tensor, expected) -> Probe:
    def observe():
        out = seeded_call(lab.learner, lab.block(name, w, dropout=DROPOUT_P, train=True), z)
        return dropout.block_stats(out, z, 1.0)

    def predict(variant):
        if not same_output(block(w, z, variant), block(w, z, REFERENCE)):
            raise Unpredictable("another mistake changes what this probe shows")
        if expected is None:
            return dropout.block_ff_expected(variant, DROPOUT_P)
        return expected(variant, DROPOUT_P, z.shape[1])

    return Probe(name, f"train mode with dropout={DROPOUT_P}: what {part} drops", "dropout", observe, predict,
                 same=dropout.same_stats)
