"""The attention weights pulled out with chosen weights, and the scale fitted on them.

For the function, v is the identity (T_k columns, padded with zeros), so the output *is*
the weight matrix. For a module, W_v = W_o = I and every bias is zero, so each head's
output is its weights times its columns of x; with d_head >= T those columns have full
rank and the weights are read off exactly (and if the output is no such mix, the fault is
after the weights). The scale c is fitted so that softmax(c * q.k) reproduces the weights;
it is printed only when it does. The sizes are then varied one at a time to say what the
fitted scale follows.
"""

from __future__ import annotations

import math
from itertools import combinations, product

import torch

from grader.judge.diagnosis.attention_model import MhaWeights
from grader.judge.diagnosis.clue import AFTER_WEIGHTS, SEED, Clue, number
from grader.judge.diagnosis.lab import F64

EXPONENTS = (-1.0, -0.5, 0.5, 1.0)


def fit_scale(a: torch.Tensor, s: torch.Tensor) -> float | None:
    """c with softmax(c * s, -1) == a (rows of (..., T_q, T_k)) to 1e-6, or None."""
    a, s = a.reshape(-1, a.shape[-1]), s.reshape(-1, s.shape[-1])
    if not torch.isfinite(a).all() or (a <= 0).any():
        return None
    weight = a / a.sum(-1, keepdim=True)  # large weights are read most precisely
    y, x = a.log(), s
    y = y - (weight * y).sum(-1, keepdim=True)
    x = x - (weight * x).sum(-1, keepdim=True)
    denominator = float((weight * x * x).sum())
    if denominator < 1e-12:
        return None
    c = float((weight * x * y).sum()) / denominator
    if float((torch.softmax(c * s, -1) - a).abs().max()) > 1e-6:
        return None
    return c


def _formula(exponents: dict[str, float], factor: float) -> str:
    parts = []
    for name, e in exponents.items():
        parts.append({-1.0: f"1/{name}", -0.5: f"1/sqrt({name})", 0.5: f"sqrt({name})", 1.0: name}[e])
    text = " * ".join(parts) if parts else "a fixed number"
    if abs(factor - 1) > 1e-3:
        text = f"{number(factor)} * {text}" if parts else f"a fixed {factor:.4g}"
    return text


def follows(base: dict[str, int], scales: dict[str, float], named: dict[str, dict[str, int]]) -> str | None:
    """What the fitted scale follows: ``scales`` maps "" (the base sizes) and each varied size to the fitted
    scale with that size changed to ``base[size] + 1 .. ``(see ``varied``); ``named`` maps a size's name to its
    exponents over the independent sizes. A formula, or None when no power law of one or two sizes fits."""
    c0 = scales[""]
    powers = {}
    for size, value in varied_items(scales):
        new, c = value
        if c <= 0 or c0 <= 0:
            return None
        powers[size] = math.log(c / c0) / math.log(new / base[size])
    found = []
    for count in (0, 1, 2):
        for names in combinations(named, count):
            for exps in product(EXPONENTS, repeat=count):
                total = {size: sum(e * named[n].get(size, 0) for n, e in zip(names, exps)) for size in powers}
                if all(abs(total[size] - powers[size]) < 0.02 for size in powers):
                    log_factor = math.log(c0) - sum(e * sum(named[n].get(size, 0) * math.log(base[size])
                                                            for size in base) for n, e in zip(names, exps))
                    cost = count + sum(abs(abs(e) - 0.5) + (e > 0) for e in exps)  # the simplest form reads best
                    found.append((cost, _formula(dict(zip(names, exps)), math.exp(log_factor))))
        if found:
            return min(found)[1]
    return None


def varied_items(scales):
    return [(size, value) for size, value in scales.items() if size]


def _scale_clue(measure, base: dict[str, int], steps: dict[str, int], named: dict[str, dict[str, int]],
                right: str, sizes_text) -> list[Clue]:
    c0 = measure(base)
    if c0 is None:
        return []
    scales: dict = {"": c0}
    for size, new in steps.items():
        c = measure(base | {size: new})
        if c is None:
            return []
        scales[size] = (new, c)
    formula = follows(base, scales, named)
    if formula == right:
        return []
    values = "; ".join([f"{c0:.4g} at {sizes_text(base)}"] +
                       [f"{c:.4g} at {sizes_text(base | {size: new})}" for size, (new, c) in varied_items(scales)])
    if formula is None:
        return [Clue("the scale", f"the scores are scaled by a number that changes with the sizes but as no simple "
                     f"power of them; it must be {right}", f"fitted scale (softmax(c * q.k) reproduces your weights): "
                     f"{values}", rank=0, contradicts=frozenset({"scale-constant"}))]
    fixed = formula.startswith("a fixed")
    said = "whatever the sizes" if fixed else "(fitted, it reproduces your weights)"
    return [Clue("the scale", f"the scores are scaled by {formula} {said}; it must be {right}",
                 f"fitted scale: {values}", rank=0, contradicts=frozenset() if fixed else frozenset({"scale-constant"}))]


def _weights_clues(a: torch.Tensor, reference: torch.Tensor, what: str) -> list[Clue]:
    """Row sums, signs and values of weights (..., T_q, T_k) against PyTorch's."""
    if not torch.isfinite(a).all():
        return []
    rows, columns = a.sum(-1), a.sum(-2)
    if (rows - 1).abs().max() > 1e-6:
        if (columns - 1).abs().max() < 1e-6:
            return [Clue("the softmax", f"{what} sum to 1 down each key's column (over the queries), not along each "
                         "query's row (over the keys): a softmax over the wrong axis (it must be dim=-1), or the "
                         "weights transposed before @ v",
                         f"row sums {_few(rows)}", rank=0)]
        spread = float(rows.max() - rows.min())
        said = f"all {number(float(rows.mean()))}" if spread < 1e-6 else \
            f"from {number(float(rows.min()))} to {number(float(rows.max()))}"
        return [Clue("the attention weights", f"{what} do not sum to 1 for each query: the sums are {said}",
                     f"row sums {_few(rows)}", rank=0)]
    if (a < -1e-12).any():
        return [Clue("the attention weights", f"{what} include negative numbers (down to {number(float(a.min()))}): "
                     "no softmax gives that", rank=0)]
    if (a - reference).abs().max() > 1e-6:
        row = int((a - reference).abs().amax(-1).reshape(-1).argmax()) % a.shape[-2]
        flat_a, flat_r = a.reshape(-1, a.shape[-2], a.shape[-1])[0], reference.reshape(-1, a.shape[-2], a.shape[-1])[0]
        return [Clue("the attention weights", f"{what} differ from softmax(q.k / sqrt(d_k)): query {row} gets "
                     f"[{_few(flat_a[row])}] where PyTorch's are [{_few(flat_r[row])}]", rank=1)]
    return []


def _few(values: torch.Tensor) -> str:
    flat = values.reshape(-1).tolist()
    return ", ".join(f"{v:.3f}" for v in flat[:6]) + (", ..." if len(flat) > 6 else "")


# -- the function --------------------------------------------------------------------------------------------


def sdpa_weight_clues(function) -> list[Clue]:
    def weights(sizes):
        rng = torch.Generator().manual_seed(SEED + sizes["T_q"] * 100 + sizes["T_k"] * 10 + sizes["d_k"])
        q = torch.randn(1, sizes["T_q"], sizes["d_k"], generator=rng, dtype=F64) * 0.8
        k = torch.randn(1, sizes["T_k"], sizes["d_k"], generator=rng, dtype=F64) * 0.8
        v = torch.eye(sizes["T_k"], sizes["d_v"], dtype=F64)[None]
        out = function(q, k, v)
        if not isinstance(out, torch.Tensor) or out.shape != (1, sizes["T_q"], sizes["d_v"]):
            return None, None
        if out[..., sizes["T_k"]:].abs().max() > 1e-9:
            return None, None  # not a mix of the values
        return out[..., :sizes["T_k"]].double(), q @ k.transpose(-2, -1)

    base = {"T_q": 3, "T_k": 5, "d_k": 4, "d_v": 6}
    a, s = weights(base)
    if a is None:
        return []
    clues = _weights_clues(a, torch.softmax(s / math.sqrt(base["d_k"]), -1), "your attention weights")
    if not clues or clues[0].rank > 0:  # the weights sum to 1: is it the scale?
        named = {n: {n: 1} for n in base}

        def measure(sizes):
            got, scores = weights(sizes)
            return None if got is None else fit_scale(got, scores)

        scale = _scale_clue(measure, base, {"d_k": 9, "T_k": 4, "d_v": 8, "T_q": 4}, named, "1/sqrt(d_k)",
                            lambda z: f"d_k={z['d_k']}, d_v={z['d_v']}, T_q={z['T_q']}, T_k={z['T_k']}")
        clues = scale or clues
    return clues


# -- the modules ---------------------------------------------------------------------------------------------


def _identity_mha(rng, d: int, heads: int) -> MhaWeights:
    eye = torch.eye(d, dtype=F64)
    wqk = torch.randn(2 * d, d, generator=rng, dtype=F64) * 0.3
    return MhaWeights(heads, torch.cat([wqk, eye]), torch.zeros(3 * d, dtype=F64), eye, torch.zeros(d, dtype=F64))


def attention_weight_clues(lab, kind: str) -> list[Clue]:
    def weights(sizes):
        d, heads, t = sizes["d_model"], sizes.get("heads", 1), sizes["T"]
        rng = torch.Generator().manual_seed(SEED + 1000 * d + 10 * heads + t)
        w = _identity_mha(rng, d, heads)
        x = torch.randn(1, t, d, generator=rng, dtype=F64)
        key = f"weights-{d}-{heads}-{t}"
        module = lab.self_attention(key, w) if kind == "self-attention" else lab.mha(key, w)
        out = module(x)
        if not isinstance(out, torch.Tensor) or out.shape != x.shape or not torch.isfinite(out).all():
            return None, None, False
        dh = d // heads
        found, scores, mix = [], [], True
        for h in range(heads):
            xh = x[0, :, h * dh:(h + 1) * dh]
            a = out[0, :, h * dh:(h + 1) * dh].double() @ torch.linalg.pinv(xh)
            mix = mix and float((a @ xh - out[0, :, h * dh:(h + 1) * dh]).abs().max()) < 1e-8
            q = x[0] @ w.in_weight[h * dh:(h + 1) * dh].T
            k = x[0] @ w.in_weight[d + h * dh:d + (h + 1) * dh].T
            found.append(a)
            scores.append(q @ k.T)
        return torch.stack(found), torch.stack(scores), mix

    if kind == "self-attention":
        base, steps, named, right = {"d_model": 6, "T": 4}, {"d_model": 8, "T": 5}, \
            {"d_model": {"d_model": 1}, "T": {"T": 1}}, "1/sqrt(d_model)"
    else:
        base, steps, right = {"d_model": 12, "heads": 2, "T": 4}, {"d_model": 16, "heads": 3, "T": 5}, \
            "1/sqrt(d_head)"
        named = {"d_head": {"d_model": 1, "heads": -1}, "d_model": {"d_model": 1}, "heads": {"heads": 1},
                 "T": {"T": 1}}
    a, s, mix = weights(base)
    if a is None:
        return []
    what = "with identity value and output projections, your output"
    if not mix:
        return [Clue(AFTER_WEIGHTS, f"{what} is not each head's weights times that head's columns of "
                     "the values: the fault is after the softmax (the values, how the heads are merged, or the output "
                     "projection)", "W_v = W_o = I and every bias zero; the output is no mix of the tokens", rank=1)]
    dh = base["d_model"] // base.get("heads", 1)
    clues = _weights_clues(a, torch.softmax(s / math.sqrt(dh), -1), f"{what}'s mixing weights")
    if not clues or clues[0].rank > 0:

        def measure(sizes):
            got, scores, ok = weights(sizes)
            return None if got is None or not ok else fit_scale(got, scores)

        scale = _scale_clue(measure, base, steps, named, right,
                            lambda z: ", ".join(f"{k}={v}" for k, v in z.items()))
        clues = scale or clues
    return clues
