"""Which parameter groups reach the output, and how: one group of the PyTorch module's weights
is perturbed at a time and loaded; the change of the learner's output is compared with the
change of PyTorch's. A group whose change never shows, shows where PyTorch's cannot, or shows
scaled (while the others act as in PyTorch) localises the fault to the path through it."""

from __future__ import annotations

from collections.abc import Callable

import torch

from grader.judge.diagnosis.attention_model import MhaWeights
from grader.judge.diagnosis.block_model import BlockWeights
from grader.judge.diagnosis.clue import SEED, Clue, differs, number
from grader.judge.diagnosis.lab import F64



def perturbed_mha(w: MhaWeights, group: str, delta: torch.Tensor) -> MhaWeights:
    d = w.d_model
    in_weight, in_bias = w.in_weight.clone(), w.in_bias.clone()
    out_weight, out_bias = w.out_weight.clone(), w.out_bias.clone()
    rows = {"q": slice(0, d), "k": slice(d, 2 * d), "v": slice(2 * d, 3 * d)}
    name, kind = group.split(".")
    if name in rows and kind == "weight":
        in_weight[rows[name]] += delta[:d * d].reshape(d, d)
    elif name in rows:
        in_bias[rows[name]] += delta[:d]
    elif kind == "weight":
        out_weight += delta[:d * d].reshape(d, d)
    else:
        out_bias += delta[:d]
    return MhaWeights(w.heads, in_weight, in_bias, out_weight, out_bias)


MHA_GROUPS = {"q.weight": "the q rows of in_proj_weight", "k.weight": "the k rows of in_proj_weight",
              "v.weight": "the v rows of in_proj_weight", "q.bias": "the q bias (in_proj_bias[:d])",
              "k.bias": "the k bias (in_proj_bias[d:2d])", "v.bias": "the v bias (in_proj_bias[2d:])",
              "out.weight": "out_proj.weight", "out.bias": "out_proj.bias"}
BLOCK_GROUPS = ("norm1.weight", "norm1.bias", "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
                "norm2.weight", "norm2.bias")  # after the attention's


def perturbed_block(w: BlockWeights, group: str, delta: torch.Tensor) -> BlockWeights:
    fields = {name: getattr(w, name) for name in BlockWeights.__dataclass_fields__}
    if group.split(".")[0] in ("q", "k", "v", "out"):
        fields["attn"] = perturbed_mha(w.attn, group, delta)
        return BlockWeights(**fields)
    name, kind = group.split(".")
    weight, bias = fields[name]
    if kind == "weight":
        weight = weight + delta[:weight.numel()].reshape(weight.shape)
    else:
        bias = bias + delta[:bias.numel()]
    fields[name] = (weight, bias)
    return BlockWeights(**fields)


def reach_clues(observe: Callable[[str, object], torch.Tensor | None], predict: Callable[[object], torch.Tensor],
                base, perturb: Callable[[object, str, torch.Tensor], object], groups: dict[str, str], *,
                crisp: bool = False) -> list[Clue]:
    """``observe(key, weights)``: the learner's output with ``weights`` loaded; ``predict(weights)``: PyTorch's.
    Each group is perturbed alone; its effect on the learner's output is compared with its effect on PyTorch's.
    ``crisp``: only a group that never reaches the output, or reaches it where PyTorch's cannot (where every
    group's change passes through one last norm, "reaches it differently" places nothing)."""
    rng = torch.Generator().manual_seed(SEED + 1)
    mine0, theirs0 = observe("reach-base", base), predict(base)
    if not isinstance(mine0, torch.Tensor) or mine0.shape != theirs0.shape or not torch.isfinite(mine0).all():
        return []
    verdicts: dict[str, tuple[str, str]] = {}
    for group in groups:
        delta = torch.randn(4096, generator=rng, dtype=F64) * 0.3
        changed = perturb(base, group, delta)
        mine = observe(f"reach-{group}", changed)
        if not isinstance(mine, torch.Tensor) or mine.shape != mine0.shape:
            continue
        d_mine, d_theirs = mine.double() - mine0.double(), predict(changed) - theirs0
        size_mine, size_theirs = float(d_mine.abs().max()), float(d_theirs.abs().max())
        if size_theirs < 1e-9 and size_mine < 1e-9:
            verdicts[group] = ("inert", "")  # no effect in PyTorch either (the k bias)
        elif size_mine < 1e-9:
            verdicts[group] = ("never", f"PyTorch's output changes by up to {number(size_theirs)}, yours by 0")
        elif size_theirs < 1e-9:
            verdicts[group] = ("should-not", f"your output changes by up to {number(size_mine)}; PyTorch's cannot "
                               "change")
        elif not differs(d_mine, d_theirs, atol=1e-7 * (1 + size_theirs)):
            verdicts[group] = ("right", "")
        else:
            ratio = float((d_mine * d_theirs).sum() / (d_theirs * d_theirs).sum())
            scaled = not differs(d_mine, ratio * d_theirs, atol=1e-7 * (1 + size_mine))
            verdicts[group] = ("scaled" if scaled else "different",
                               f"your output changes {number(ratio)} times as much as PyTorch's" if scaled else
                               f"your output changes by up to {number(size_mine)}, PyTorch's by up to "
                               f"{number(size_theirs)}, in other directions")
    if crisp:
        verdicts = {g: v for g, v in verdicts.items() if v[0] in ("never", "should-not", "inert")}
    return _reach_verdicts(verdicts, groups)


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _reach_verdicts(verdicts: dict[str, tuple[str, str]], groups: dict[str, str]) -> list[Clue]:
    right = [g for g, (kind, _) in verdicts.items() if kind == "right"]
    clues = []
    never = [g for g, (kind, _) in verdicts.items() if kind == "never"]
    if never:
        names = _listed([groups[g] for g in never])
        clues.append(Clue(names, f"your output does not change when {names} {'is' if len(never) == 1 else 'are'} "
                          f"changed: {'it never reaches' if len(never) == 1 else 'they never reach'} the output (not "
                          "loaded, not added, or overwritten)", verdicts[never[0]][1], rank=0))
    for group, (kind, said) in verdicts.items():
        if kind == "should-not":
            clues.append(Clue(groups[group], f"your output changes when {groups[group]} is changed, where PyTorch's "
                              "cannot: it is used where it does not belong", said, rank=0))
    different = [g for g, (kind, _) in verdicts.items() if kind in ("scaled", "different")]
    ratios = {verdicts[g][1] for g in different}
    if len(different) > 2 and right and all(verdicts[g][0] == "scaled" for g in different) and len(ratios) == 1:
        order = list(groups)  # the groups in the order the data flows through them
        last = max(different, key=order.index)
        listed = _listed([groups[g] for g in right])
        clues.append(Clue(groups[last], f"every parameter up to {groups[last]} reaches your output scaled by the same "
                          f"factor ({ratios.pop().removeprefix('your output changes ')}), while {listed} "
                          f"{'acts' if len(right) == 1 else 'act'} as in PyTorch: the factor comes in at "
                          f"{groups[last]} or just before it", rank=0))
    elif different and len(different) <= 2 and len(right) >= 3:
        for group in different:
            kind, said = verdicts[group]
            clues.append(Clue(groups[group], f"{groups[group]} reaches your output differently from PyTorch's "
                              f"(every other parameter group acts as in PyTorch): {said}", said, rank=0 if kind ==
                              "scaled" else 1))
    return clues
