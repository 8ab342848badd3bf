"""The output projection read off by fitting: what the module does after the attention.

W_v = I and zero q/k/v biases, so the attention's own output z (every head's weights times
its columns of x, heads merged) is known exactly; the learner's module is then loaded twice,
once with W_o = I and b_o = 0 (its output must be z: otherwise the fault is before the output
projection, and this analysis says nothing) and once with a random W_o and b_o. The second
output is fitted as z @ A^T + c over enough tokens to pin A and c down; A and c are then
compared with what they can plausibly be (W_o, W_o twice, W_o^T, I, a multiple of W_o; b_o,
-b_o, 0, 2 b_o). Nothing is claimed that the fit does not reproduce to 1e-8.
"""

from __future__ import annotations

import torch

from grader.judge.diagnosis.attention_model import MhaWeights, mha
from grader.judge.diagnosis.clue import SEED, Clue, number
from grader.judge.diagnosis.engine import REFERENCE
from grader.judge.diagnosis.lab import F64

WHERE = "the output projection"
EXACT = 1e-8


def _weights(rng: torch.Generator, d: int, heads: int, out_weight: torch.Tensor, out_bias: torch.Tensor
             ) -> MhaWeights:
    qk = torch.randn(2 * d, d, generator=rng, dtype=F64) * 0.3
    return MhaWeights(heads, torch.cat([qk, torch.eye(d, dtype=F64)]), torch.zeros(3 * d, dtype=F64), out_weight,
                      out_bias)


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return float((a - b).abs().max()) < 1e-7 * (1 + float(b.abs().max()))


def _what_the_weight_is(a: torch.Tensor, w: torch.Tensor) -> str | None:
    """A, described by what it is in terms of W_o; None where it is W_o."""
    if _close(a, w):
        return None
    for matrix, said in ((w @ w, "applies out_proj.weight twice (W_o W_o)"),
                         (w.T, "uses out_proj.weight transposed"),
                         (torch.eye(len(w), dtype=F64), "does not apply out_proj.weight")):
        if _close(a, matrix):
            return said
    factor = float((a * w).sum() / (w * w).sum())
    if _close(a, factor * w):
        return f"applies out_proj.weight scaled by {number(factor)}"
    return "applies a matrix to the attention's output that is not out_proj.weight"


def _what_the_bias_is(c: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> str | None:
    for vector, said in ((b, None), (-b, "subtracts out_proj.bias"), (torch.zeros_like(b), "never adds out_proj.bias"),
                         (2 * b, "adds out_proj.bias twice"), (w @ b + b, None)):
        if _close(c, vector):
            return said
    return "adds a constant that is not out_proj.bias"


def output_projection_clues(module, d: int, heads: int, *, masked: bool = False) -> list[Clue]:
    """``module(key, weights)``: the learner's module loaded with ``weights``, called as ``(x, mask)``; ``masked``:
    under a causal mask (a fault that only a mask brings out), else with none."""
    rng = torch.Generator().manual_seed(SEED + 7)
    x = torch.randn(6, 4, d, generator=rng, dtype=F64)  # 24 tokens: enough to pin d x d + d numbers down
    mask = torch.ones(4, 4, dtype=torch.bool).tril() if masked else None
    identity = _weights(rng, d, heads, torch.eye(d, dtype=F64), torch.zeros(d, dtype=F64))
    w_o, b_o = torch.randn(d, d, generator=rng, dtype=F64) * 0.4, torch.randn(d, generator=rng, dtype=F64) * 0.5
    z = mha(identity, x, REFERENCE, mask=mask).double()
    key = "output-masked" if masked else "output"
    plain = module(f"{key}-identity", identity)(x, mask)
    if not isinstance(plain, torch.Tensor) or plain.shape != z.shape or not _close(plain.double(), z):
        return []  # the fault is before the output projection: nothing to read off here
    loaded = MhaWeights(heads, identity.in_weight, identity.in_bias, w_o, b_o)
    got = module(f"{key}-random", loaded)(x, mask)
    if not isinstance(got, torch.Tensor) or got.shape != z.shape or not torch.isfinite(got).all():
        return []
    rows = torch.cat([z.reshape(-1, d), torch.ones(z.numel() // d, 1, dtype=F64)], 1)
    target = got.double().reshape(-1, d)
    solution = torch.linalg.lstsq(rows, target).solution  # (d + 1, d): [A^T; c]
    a, c = solution[:d].T, solution[d]
    evidence = "W_v = I and every q/k/v bias zero, so the attention's output z is known; your output fitted as A z + c"
    if float((rows @ solution - target).abs().max()) > EXACT * (1 + float(target.abs().max())):
        if not _close(got.double(), mha(loaded, x, REFERENCE, mask=mask).double()):
            return [Clue(WHERE, f"{'with a causal mask, ' if masked else ''}with W_o = I and no bias your output is the "
                         "attention's output, as it must be; with another W_o it is no linear map of it: the output "
                         "projection does something else",
                         evidence, rank=1)]
        return []
    said = [s for s in (_what_the_weight_is(a, w_o), _what_the_bias_is(c, w_o, b_o)) if s]
    if not said:
        return []
    fit = f"{evidence}: |A - W_o| up to {number(float((a - w_o).abs().max()))}, c vs out_proj.bias: " \
          f"{number(float(c[0]))} vs {number(float(b_o[0]))} (first feature)"
    under = "with a causal mask, " if masked else ""
    return [Clue(WHERE, f"{under}the attention itself is right (with W_o = I your output is the attention's output), "
                 f"but your module {' and '.join(said)}", fit, rank=0)]
