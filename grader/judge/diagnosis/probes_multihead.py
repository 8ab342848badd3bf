"""The probes of MultiHeadAttention (milestone 2), and of the one-head SelfAttention
(milestone 1), which is the same computation with one head and no padding.

Sizes: batch 3, 5 tokens, d_model 12 in 3 heads of 4 (all distinct), plus one
head of 7 and two heads of 3, so that a scale that does not follow d_head shows.
"""

from __future__ import annotations

import torch

from grader.judge.diagnosis import dropout
from grader.judge.diagnosis.attention_model import MhaWeights, mha
from grader.judge.diagnosis.engine import NONDETERMINISTIC, REFERENCE, Probe, Unpredictable, same_output, twice
from grader.judge.diagnosis.lab import F64, Lab, random_mha, seeded_call, with_biases

SEED = 20240613
B, T, D, H = 3, 5, 12, 3
DROPOUT_P = 0.25  # not 0.5: p read as the keep probability would look right at 0.5


def causal(t: int) -> torch.Tensor:
    return torch.ones(t, t, dtype=torch.bool).tril()


def large_scores(w: MhaWeights, x: torch.Tensor, target: float = 1500.0) -> MhaWeights:
    """``w`` with W_q and W_k scaled so that the largest |score| (after 1/sqrt(d_head)) is ``target``."""
    d = w.d_model
    q, k = x @ w.in_weight[:d].T + w.in_bias[:d], x @ w.in_weight[d:2 * d].T + w.in_bias[d:2 * d]
    b, t, _ = x.shape
    dh = d // w.heads
    q, k = (z.view(b, t, w.heads, dh).transpose(1, 2) for z in (q, k))
    top = float((q @ k.transpose(-2, -1)).abs().max()) / dh ** 0.5
    s = (target / top) ** 0.5
    in_weight = torch.cat([w.in_weight[:2 * d] * s, w.in_weight[2 * d:]])
    in_bias = torch.cat([w.in_bias[:2 * d] * s, w.in_bias[2 * d:]])
    return MhaWeights(w.heads, in_weight, in_bias, w.out_weight, w.out_bias)


def pads(b: int, t: int, lengths: list[int]) -> torch.Tensor:
    return torch.arange(t)[None, :] >= torch.tensor(lengths)[:, None]


class _Builder:
    """Collects the forward probes of one module kind."""

    def __init__(self, lab: Lab, kind: str):
        self.lab, self.kind, self.probes = lab, kind, []

    def module(self, key: str, w: MhaWeights, **options):
        return self.lab.self_attention(key, w) if self.kind == "self-attention" else self.lab.mha(key, w, **options)

    def forward(self, name, label, group, w, x, *, mask=None, pad=None, key=None):
        def observe():
            module = self.module(key or name, w)
            if self.kind == "self-attention":
                return module(x) if mask is None else module(x, mask)
            return module(x, mask=mask, key_padding_mask=pad)

        self.probes.append(Probe(name, label, group, observe, lambda v: mha(w, x, v, mask=mask, pad=pad)))


def _shared_probes(build: _Builder, rng: torch.Generator, heads: int) -> tuple[MhaWeights, torch.Tensor]:
    """Masks, biases, projections, sizes and scale: what SelfAttention and MultiHeadAttention share."""
    d = D if heads > 1 else 6
    w = random_mha(rng, d, heads)
    x = torch.randn(B, T, d, generator=rng, dtype=F64)
    build.forward("plain", "no mask", "masks", w, x, key="main")
    build.forward("causal", "a causal mask", "masks", w, x, mask=causal(T), key="main")
    build.forward("anti-causal", "the causal mask transposed", "masks", w, x, mask=causal(T).T, key="main")
    per_item = torch.rand(B, T, T, generator=rng) < 0.5
    per_item[..., 1] = True
    per_item[..., 0] = False  # a key no query may see: transposed, a query that sees nothing
    build.forward("per-item", "a (B, T, T) mask", "masks", w, x, mask=per_item, key="main")
    empty = per_item.clone()
    empty[0, 2] = False
    build.forward("empty-row", "a query with every key masked", "masks", w, x, mask=empty, key="main")
    for keep, name, label in ((set(), "no-bias", "every bias zero"), ({"q"}, "q-bias", "only the q bias non-zero"),
                              ({"k"}, "k-bias", "only the k bias non-zero"), ({"v"}, "v-bias", "only the v bias non-zero"),
                              ({"out"}, "out-bias", "only out_proj.bias non-zero")):
        build.forward(name, label, "biases", with_biases(w, keep), x)
    bias_free = MhaWeights(w.heads, w.in_weight, None, w.out_weight, None)
    build.forward("bias-false", "bias=False", "biases", bias_free, x)
    eye = torch.eye(d, dtype=F64)
    identity = MhaWeights(heads, torch.cat([eye, eye, eye]), torch.zeros(3 * d, dtype=F64), eye, torch.zeros(d, dtype=F64))
    build.forward("identity", "identity projections", "projections", identity, x)
    other_d, other_heads = (7, 1) if heads > 1 else (4, 1)
    w_other = random_mha(rng, other_d, other_heads)
    x_other = torch.randn(B, T + 1, other_d, generator=rng, dtype=F64)
    label = "one head of 7" if heads > 1 else "d_model=4"
    build.forward("other-size", label, "sizes", w_other, x_other)
    build.forward("one-token", "one token", "sizes", w, x[:, :1], key="main")
    build.forward("large", "scores around 1e3", "scale", large_scores(w, x), x)
    _bias_sensitivity(build, rng, w, x)
    return w, x


def _bias_sensitivity(build: _Builder, rng: torch.Generator, w: MhaWeights, x: torch.Tensor) -> None:
    """Two modules built from the same seed, loaded with weights that differ only in their biases."""
    other = MhaWeights(w.heads, w.in_weight, torch.randn(w.in_bias.shape, generator=rng, dtype=F64) * 0.4,
                       w.out_weight, torch.randn(w.out_bias.shape, generator=rng, dtype=F64) * 0.4)

    def observe():
        outputs = []
        for key, weights in (("bias-a", w), ("bias-b", other)):
            build.lab.learner.seed(0)
            outputs.append(build.module(key, weights)(x))
        if not all(isinstance(o, torch.Tensor) for o in outputs):
            return outputs[0] if not isinstance(outputs[0], torch.Tensor) else outputs[1]
        return bool(torch.equal(outputs[0], outputs[1]))

    def predict(variant):
        if variant.has("biases-not-loaded"):
            return True
        return same_output(mha(w, x, variant), mha(other, x, variant), atol=0, rtol=0)

    build.probes.append(Probe("bias-sensitivity", "weights that differ only in their biases", "biases", observe,
                              predict))


def self_attention_probes(learner) -> list[Probe]:
    """SelfAttention(d_model, bias) loaded from a one-head nn.MultiheadAttention."""
    build = _Builder(Lab(learner), "self-attention")
    _shared_probes(build, torch.Generator().manual_seed(SEED), heads=1)
    return build.probes


def multihead_probes(learner) -> list[Probe]:
    """MultiHeadAttention(d_model, n_heads, bias, dropout) loaded from nn.MultiheadAttention."""
    rng = torch.Generator().manual_seed(SEED)
    build = _Builder(Lab(learner), "multihead")
    w, x = _shared_probes(build, rng, heads=H)
    w_two = random_mha(rng, 6, 2)
    build.forward("two-heads", "two heads of 3", "sizes", w_two, torch.randn(B, T, 6, generator=rng, dtype=F64))
    build.forward("padding", "key padding", "padding", w, x, pad=pads(B, T, [T, 2, 4]), key="main")
    build.forward("causal-padding", "a causal mask with key padding", "padding", w, x, mask=causal(T),
                  pad=pads(B, T, [T, 3, 1]), key="main")
    build.forward("empty-item", "an item whose keys are all padding", "padding", w, x, pad=pads(B, T, [T, 2, 0]),
                  key="main")
    build.probes += dropout_probes(build.lab, w, x)
    return build.probes


def dropout_probes(lab: Lab, w: MhaWeights, x: torch.Tensor) -> list[Probe]:
    def eval_twice():
        module = lab.mha("eval-dropout", w, dropout=0.5)
        return twice(lambda: module(x))

    def predict_eval(variant):
        return NONDETERMINISTIC if variant.has("dropout-in-eval") else mha(w, x, variant)

    def p1():
        return seeded_call(lab.learner, lab.mha("train-p1", w, dropout=1.0, train=True), x)

    heads, d_head, t = 2, 5, 4
    w_stats, x_stats = dropout.mha_case(64, t, heads, d_head)

    def stats():
        y = seeded_call(lab.learner, lab.mha("train-stats", w_stats, dropout=DROPOUT_P, train=True), x_stats)
        return dropout.mha_stats(y, t, heads, d_head)

    def predict_stats(variant):
        if not same_output(mha(w_stats, x_stats, variant), mha(w_stats, x_stats, REFERENCE)):
            raise Unpredictable("another mistake changes what this probe shows")
        return dropout.mha_expected(variant, DROPOUT_P)

    return [Probe("eval-dropout", "dropout=0.5 in eval mode", "dropout", eval_twice, predict_eval),
            Probe("train-p1", "train mode with dropout=1", "dropout", p1, lambda v: mha(w, x, v, dropped=True)),
            Probe("train-stats", f"train mode with dropout={DROPOUT_P} (how many weights are dropped, and their "
                  "scale)", "dropout", stats, predict_stats, same=dropout.same_stats)]
