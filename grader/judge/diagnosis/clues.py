"""Analyses that work on any wrong code, run when the catalogue's models do not explain the
probes: they say *where* the fault is, with numbers, whatever the mistake.

- which positions reach which (``positions``): one input position perturbed per batch copy,
  the outputs that change compared with what the mask allows;
- which parameter groups reach the output, and how (``reach``): one group of the PyTorch
  module's weights perturbed at a time, loaded, the change of the learner's output compared
  with PyTorch's;
- the attention weights and the fitted scale (``clues_weights``), the activation and the
  LayerNorm with its fitted eps (``clues_norms``), pulled out with chosen weights.

Each finding is a :class:`Clue`: where, the line the learner reads, the evidence. A clue
never states a constant or a cause the observation does not show: a fitted constant is
printed only when it reproduces the output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from grader.judge.diagnosis.attention_model import mha
from grader.judge.diagnosis.block_model import block
from grader.judge.diagnosis.lab import F64, Lab, random_mha

from grader.judge.diagnosis.clue import SEED, WEIGHT_FAULTS, Clue, differs, number


# -- positions --------------------------------------------------------------------------------------------


def _grid(allowed: torch.Tensor, changed: torch.Tensor) -> str:
    rows = []
    for i in range(allowed.shape[0]):
        rows.append("".join("x" if a and c else "+" if c else "-" if a else "." for a, c in
                            zip(allowed[i].tolist(), changed[i].tolist())))
    return "queries x keys: x = allowed and used, - = allowed but ignored, + = hidden but used, . = hidden: " + \
        " / ".join(rows)


def position_clues(run: Callable[[torch.Tensor, object], torch.Tensor | None], x: torch.Tensor,
                   cases: list[tuple[str, object, torch.Tensor]], *, self_dependent: str) -> list[Clue]:
    """``run(xs, case)``: the learner's outputs (N, T, ...) for inputs (N, T, ...); ``cases``: (label, case,
    allowed (T, T), or (G, T, T) for G batch items with masks of their own: the case's mask then has
    G * (T + 1) items). In each group of T + 1 copies, copy 0 is ``x`` and copy j + 1 has position j changed.
    Query i must change with key j exactly where allowed, and with itself ``self_dependent``: "always" (a
    block's residual), "query-too" (its own token also changes its query: not judged) or "never" (only keys change)."""
    t = x.shape[0]
    copies = x.unsqueeze(0).repeat(t + 1, *([1] * x.dim()))
    rng = torch.Generator().manual_seed(SEED + 2)
    for j in range(t):  # a random change: a constant added to a token would vanish in a LayerNorm
        copies[j + 1, j] = copies[j + 1, j] + torch.randn(x[j].shape, generator=rng, dtype=x.dtype)
    clues = []
    for label, case, allowed_all in cases:
        groups = allowed_all if allowed_all.dim() == 3 else allowed_all[None]
        xs = copies.repeat(groups.shape[0], *([1] * x.dim()))
        out = run(xs, case)
        if not isinstance(out, torch.Tensor) or out.shape[:2] != xs.shape[:2] or not torch.isfinite(out).all():
            continue
        for g, allowed in enumerate(groups):
            clue = _positions(out[g * (t + 1):(g + 1) * (t + 1)], allowed, self_dependent,
                              label if len(groups) == 1 else f"{label} (batch item {g})")
            if clue is not None:
                clues.append(clue)
                break
    return clues


def _positions(out: torch.Tensor, allowed: torch.Tensor, self_dependent: str, label: str) -> Clue | None:
    t = allowed.shape[0]
    base = out[0]
    changed = torch.zeros(t, t, dtype=torch.bool)
    for j in range(t):
        delta = (out[j + 1] - base).reshape(t, -1).abs().amax(-1)
        changed[:, j] = delta > 1e-9 * (1 + base.abs().max())
    expect = allowed.clone()
    for i in range(t):
        if self_dependent == "always":
            expect[i, i] = True  # the query's own token changes its scores (or, in a block, its residual)
    leaks = changed & ~expect
    if self_dependent == "query-too":  # a query's own token may change its output through its scores
        leaks &= ~torch.eye(t, dtype=torch.bool)
    ignored = expect & ~changed & allowed
    if not leaks.any() and not ignored.any():
        return None
    said = []
    if leaks.any():
        i, j = (int(v) for v in leaks.nonzero()[0])
        said.append(f"query {i} is changed by key {j}, which the mask hides")
    if ignored.any():
        i, j = (int(v) for v in ignored.nonzero()[0])
        said.append(f"query {i} ignores key {j}, which the mask allows")
    where = "the mask" if leaks.any() or "no mask" not in label else "which keys each query attends to"
    return Clue(where, f"with {label}, " + " and ".join(said) + f" ({int(leaks.sum())} hidden position(s) used, "
                f"{int(ignored.sum())} allowed position(s) ignored)", _grid(allowed, changed), rank=0)


def batch_clue(run_alone: Callable[[], torch.Tensor], run_batched: Callable[[], torch.Tensor]) -> list[Clue]:
    alone, batched = run_alone(), run_batched()
    if isinstance(alone, torch.Tensor) and isinstance(batched, torch.Tensor) and alone.shape[1:] == batched.shape[1:] \
            and differs(alone[0], batched[0], atol=1e-9):
        return [Clue("the batch axis", "batch items are mixed: an item's output changes when other items are "
                     "added to the batch (axis 0 is the batch; attend over axis 1, the tokens)",
                     f"item 0 alone vs. in a batch of {batched.shape[0]}: largest difference "
                     f"{number(float((alone[0] - batched[0]).abs().max()))}", rank=0)]
    return []


# -- the units ---------------------------------------------------------------------------------------------


def _mha_parts(learner, kind: str) -> list[Callable[[], list[Clue]]]:
    from grader.judge.diagnosis.clues_reach import MHA_GROUPS, perturbed_mha, reach_clues
    from grader.judge.diagnosis.clues_output import output_projection_clues
    from grader.judge.diagnosis.clues_weights import attention_weight_clues

    lab, rng = Lab(learner), torch.Generator().manual_seed(SEED)
    heads, d = (1, 6) if kind == "self-attention" else (2, 8)
    w = random_mha(rng, d, heads)
    t = 5
    x = torch.randn(t, d, generator=rng, dtype=F64)

    def module(key, weights):
        return lab.self_attention(key, weights) if kind == "self-attention" else lab.mha(key, weights)

    def run(xs, case):
        mask, pad = case
        m = module("positions", w)
        if kind == "self-attention":
            return m(xs) if mask is None else m(xs, mask)
        return m(xs, mask=mask, key_padding_mask=None if pad is None else pad.expand(xs.shape[0], t))

    full = torch.ones(t, t, dtype=torch.bool)
    causal = full.tril()
    rand = _random_mask(rng, t, keep=2)
    other = _random_mask(rng, t, keep=0)
    per_item = torch.stack([rand, other]).repeat_interleave(t + 1, 0)
    cases = [("no mask", (None, None), full), ("a causal mask", (causal, None), causal),
             ("a random mask", (rand, None), rand), ("a (B, T, T) mask", (per_item, None), torch.stack([rand, other]))]
    if kind == "multihead":
        pad = torch.tensor([[False, False, False, True, True]])
        cases += [("key padding (keys 3 and 4)", (None, pad), full & ~pad[0][None, :]),
                  ("a causal mask and key padding", (causal, pad), causal & ~pad[0][None, :])]

    def positions():
        mixed = batch_clue(lambda: module("positions", w)(x[None]),
                           lambda: module("positions", w)(torch.stack([x, x.flip(0), x * 2])))
        return mixed or position_clues(run, x, cases, self_dependent="query-too")

    xb = torch.randn(2, t, d, generator=rng, dtype=F64)

    def reach():
        return reach_clues(lambda key, weights: module(key, weights)(xb), lambda weights: mha(weights, xb, _REF),
                           w, perturbed_mha, MHA_GROUPS)

    def output_projection():
        def called(key, weights):
            m = module(key, weights)
            return lambda xs, mask: m(xs) if mask is None else m(xs, mask)

        return output_projection_clues(called, d, heads) or output_projection_clues(called, d, heads, masked=True)

    return [positions, reach, lambda: attention_weight_clues(lab, kind), output_projection]


def _random_mask(rng: torch.Generator, t: int, *, keep: int) -> torch.Tensor:
    """A random (T, T) mask in which every query may see key ``keep`` and most may not see themselves."""
    mask = torch.rand(t, t, generator=rng) < 0.5
    mask.fill_diagonal_(False)
    mask[:, keep] = True
    return mask


class IfUnlocalised:
    """A costly analysis, run only when the others found no specific cause."""

    def __init__(self, run: Callable[[], list[Clue]]):
        self.run = run

    def __call__(self) -> list[Clue]:
        return self.run()


def _block_parts(learner) -> list[Callable[[], list[Clue]]]:
    from grader.judge.diagnosis.clues_norms import block_component_clues
    from grader.judge.diagnosis.clues_reach import BLOCK_GROUPS, MHA_GROUPS, perturbed_block, reach_clues
    from grader.judge.diagnosis.probes_block import _random_block

    lab, rng = Lab(learner), torch.Generator().manual_seed(SEED)
    t = 5
    parts = [lambda: block_component_clues(lab)]
    for norm_first, activation in ((True, "gelu"), (False, "relu")):
        w = _random_block(rng, norm_first=norm_first, activation=activation)
        x = torch.randn(t, w.attn.d_model, generator=rng, dtype=F64)
        key = f"block-positions-{norm_first}"
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        pad = torch.tensor([[False, False, False, False, True]])

        def run(xs, case, key=key, w=w):
            mask, padding = case
            m = lab.block(key, w)
            return m(xs, mask=mask, key_padding_mask=None if padding is None else padding.expand(xs.shape[0], t))

        label = "pre-LN" if norm_first else "post-LN"
        cases = [(f"a causal mask ({label})", (causal, None), causal),
                 (f"key padding ({label}, key 4)", (None, pad), torch.ones(t, t, dtype=torch.bool) & ~pad[0][None])]
        parts.append(lambda run=run, x=x, cases=cases: position_clues(run, x, cases, self_dependent="always"))
        xb = torch.randn(2, t, w.attn.d_model, generator=rng, dtype=F64)
        groups = dict(MHA_GROUPS) | {g: g for g in BLOCK_GROUPS}
        # pre-LN sums its sub-layers' outputs: a fault shows in its own group, not everywhere; post-LN passes every
        # change through norm2, so only a group that never reaches the output (or should not) says where
        parts.append(IfUnlocalised(lambda nf=norm_first, w=w, xb=xb, groups=groups: reach_clues(
            lambda k, weights: lab.block(f"{k}-{nf}", weights)(xb), lambda weights: block(weights, xb, _REF), w,
            perturbed_block, groups, crisp=not nf)))
    return parts


def _sdpa_parts(learner) -> list[Callable[[], list[Clue]]]:
    from grader.judge.diagnosis.clues_weights import sdpa_weight_clues

    function = learner.function("scaled_dot_product_attention")
    rng = torch.Generator().manual_seed(SEED)
    t, d = 5, 4
    q, v = torch.randn(t, d, generator=rng, dtype=F64), torch.randn(t, d, generator=rng, dtype=F64)
    k = torch.randn(t, d, generator=rng, dtype=F64)

    def run(ks, case):
        # copy j + 1 changes key j (its k and its v); the queries stay as they are
        qs = q.expand(ks.shape[0], t, d).clone()
        vs = ks.flip(-1) * 1.5 + v
        return function(qs, ks, vs) if case is None else function(qs, ks, vs, case)

    full = torch.ones(t, t, dtype=torch.bool)
    causal = full.tril()
    rand = _random_mask(rng, t, keep=1)
    other = _random_mask(rng, t, keep=3)
    per_item = torch.stack([rand, other]).repeat_interleave(t + 1, 0)
    cases = [("no mask", None, full), ("a causal mask", causal, causal), ("a random mask", rand, rand),
             ("a (B, T_q, T_k) mask", per_item, torch.stack([rand, other]))]
    return [lambda: position_clues(run, k, cases, self_dependent="never"), lambda: sdpa_weight_clues(function)]


def _layer_norm_parts(learner) -> list[Callable[[], list[Clue]]]:
    from grader.judge.diagnosis.clues_norms import layer_norm_unit_clues

    return [lambda: layer_norm_unit_clues(learner)]


class _Reference:
    def has(self, mistake: str) -> bool:
        return False

    def param(self, mistake: str, default=None):
        return default


_REF = _Reference()
PARTS: dict[str, Callable] = {"sdpa": _sdpa_parts, "self-attention": lambda lr: _mha_parts(lr, "self-attention"),
                              "multihead": lambda lr: _mha_parts(lr, "multihead"), "block": _block_parts,
                              "layer-norm": _layer_norm_parts}


def analyse(unit: str, learner) -> list[Clue]:
    """Every clue the unit's analyses find, most specific first (stable). An analysis the learner's code
    raises on (or that does not apply to what it returns) adds nothing; the probes' evidence stands."""
    clues: list[Clue] = []
    try:
        parts = PARTS[unit](learner)
    except Exception:  # noqa: BLE001 - e.g. the function is missing: nothing to analyse
        return []
    for part in parts:
        if isinstance(part, IfUnlocalised) and any(clue.rank == 0 for clue in clues):
            continue
        try:
            clues += part()
        except Exception:  # noqa: BLE001 - the learner's code raised, crashed or timed out on a chosen input
            continue
    if any(clue.where in WEIGHT_FAULTS and clue.rank <= 1 for clue in clues):
        # a fault the attention weights show with no mask at all also makes masks look leaky: an effect, not a cause
        clues = [replace(clue, rank=2) if clue.where == "the mask" else clue for clue in clues]
    unique = list({clue.summary: clue for clue in clues}.values())
    return sorted(unique, key=lambda clue: clue.rank)
