"""The block's activation and LayerNorm pulled out with chosen weights, and LayerNorm's eps fitted.

- Activation: pre-LN, input 0, attention off, linear2 = I; the grid of inputs c reaches the
  activation two ways (as linear1.bias; as linear1.weight times norm2's bias), and the
  block's output is activation(c). Only when both ways agree is the output read as the
  learner's activation.
- LayerNorm: pre-LN, attention off, a feed-forward that is the identity
  (linear2([I, -I] act([I; -I] z)) = z for ReLU and GELU), norm2 weight 1 and bias 0: the
  output minus the input is norm2(x). Rows of very different variances give the
  denominator as a function of the variance; eps is fitted, then the eps given is varied.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from grader.judge.diagnosis.attention_model import MhaWeights
from grader.judge.diagnosis.block_model import BlockWeights
from grader.judge.diagnosis.clue import Clue, number
from grader.judge.diagnosis.lab import F64, Lab

D, H = 12, 3
GRID = torch.tensor([-3.0, -2.0, -1.5, -1.0, -0.5, -0.1, 0.1, 0.5, 1.0, 1.5, 2.0, 3.0], dtype=F64)
FUNCTIONS = {"ReLU": F.relu, "exact GELU": F.gelu, "the tanh approximation of GELU": lambda z: F.gelu(z, approximate="tanh"),
             "no activation (the identity)": lambda z: z, "SiLU (x * sigmoid(x))": F.silu,
             "leaky ReLU (slope 0.01)": F.leaky_relu, "ELU": F.elu, "softplus": F.softplus, "sigmoid": torch.sigmoid,
             "tanh": torch.tanh}
RIGHT = {"relu": "ReLU", "gelu": "exact GELU"}


def _zero_attention(d: int = D, heads: int = H) -> MhaWeights:
    return MhaWeights(heads, torch.zeros(3 * d, d, dtype=F64), torch.zeros(3 * d, dtype=F64),
                      torch.zeros(d, d, dtype=F64), torch.zeros(d, dtype=F64))


def _ones_zeros(d: int = D):
    return torch.ones(d, dtype=F64), torch.zeros(d, dtype=F64)


def activation_clues(lab: Lab) -> list[Clue]:
    x = torch.zeros(1, 2, D, dtype=F64)
    eye, zero = torch.eye(D, dtype=F64), torch.zeros(D, dtype=F64)
    clues = []
    for activation in ("relu", "gelu"):
        by_bias = BlockWeights(_zero_attention(), (torch.zeros(D, D, dtype=F64), GRID.clone()), (eye, zero),
                               _ones_zeros(), _ones_zeros(), 1e-5, activation, True)
        column = torch.zeros(D, D, dtype=F64)
        column[:, 0] = GRID
        by_weight = BlockWeights(_zero_attention(), (column, zero), (eye, zero), _ones_zeros(),
                                 (torch.zeros(D, dtype=F64), torch.eye(D, dtype=F64)[0]), 1e-5, activation, True)
        got = [lab.block(f"activation-{activation}-{i}", w)(x) for i, w in enumerate((by_bias, by_weight))]
        if not all(isinstance(g, torch.Tensor) and g.shape == x.shape and torch.isfinite(g).all() for g in got):
            continue
        first, second = got[0][0, 0].double(), got[1][0, 0].double()
        if (first - second).abs().max() > 1e-9 or (got[0][0, 1] - first).abs().max() > 1e-9 or \
                float(first.max() - first.min()) < 1e-9:
            continue  # the grid does not reach the output as activation(c) alone: no claim about the activation
        right = FUNCTIONS[RIGHT[activation]](GRID)
        if (first - right).abs().max() < 1e-7:
            continue
        worst = int((first - right).abs().argmax())
        at = f"gives {first[worst]:.3f} at {GRID[worst]:.1f}; {RIGHT[activation]} gives {right[worst]:.3f}"
        same = [name for name, f in FUNCTIONS.items() if (f(GRID) - first).abs().max() < 1e-7]
        said = f"computes {same[0]}" if same else "is not " + RIGHT[activation]
        clues.append(Clue("the activation", f"with activation='{activation}', your feed-forward's activation {said}: "
                          f"it {at}", "linear1 gives chosen numbers c (through its bias, and again through its weight), "
                          "linear2 passes activation(c) through: " + ", ".join(
                              f"{c:.1f} -> {v:.3f}" for c, v in zip(GRID.tolist()[::2], first.tolist()[::2])), rank=0,
                          part="the feed-forward sub-layer"))
    return clues


def _rows(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of n features with biased variances from 1e-14 to 100 (exactly), and those variances."""
    rng = torch.Generator().manual_seed(20240624)
    variances = torch.tensor([1e-14, 1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0, 100.0], dtype=F64)
    u = torch.randn(len(variances), n, generator=rng, dtype=F64)
    u = (u - u.mean(-1, keepdim=True)) / u.std(-1, unbiased=False, keepdim=True)
    shift = torch.rand(len(variances), 1, generator=rng, dtype=F64)
    return shift + u * variances.sqrt()[:, None], variances


def denominators(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Per row, d with y = (x - mean(x)) / d, or None when some row's output is not proportional to it."""
    centred = x - x.mean(-1, keepdim=True)
    if not torch.isfinite(y).all():
        return None
    scale = (centred * centred).sum(-1) / (centred * y).sum(-1)
    if not torch.isfinite(scale).all() or (scale <= 0).any():
        return None
    if ((centred - scale[:, None] * y).abs().amax(-1) > 1e-6 * centred.abs().amax(-1)).any():
        return None
    return scale


def fit_denominator(d: torch.Tensor, v: torch.Tensor, n: int) -> tuple[str, float, float] | None:
    """(form, alpha, beta) such that d is sqrt(alpha v + beta), alpha sqrt(v) + beta or alpha v + beta."""
    for form, target, feature in (("sqrt", d * d, v), ("std", d, v.sqrt()), ("var", d, v)):
        weight = 1 / target
        a = torch.stack([feature * weight, weight], -1)
        solution = torch.linalg.lstsq(a, target * weight).solution
        alpha, beta = float(solution[0]), float(solution[1])
        if ((alpha * feature + beta - target).abs() / target).max() < 1e-6:
            return form, alpha, beta if beta > 1e-20 else 0.0  # the smallest variance is 1e-14: below, noise
    return None


def _describe(form: str, alpha: float, beta: float, n: int) -> str:
    variance = "var" if abs(alpha - 1) < 1e-6 or form == "std" and abs(alpha - 1) < 1e-6 else \
        "the unbiased var (divided by n - 1)" if abs(alpha - n / (n - 1)) < 1e-6 or \
        abs(alpha - math.sqrt(n / (n - 1))) < 1e-6 else f"{alpha:.4g} * var"
    if beta == 0:
        return {"sqrt": f"sqrt({variance}) with no eps", "std": f"sqrt({variance}) with no eps",
                "var": f"{variance} with no eps"}[form]
    return {"sqrt": f"sqrt({variance} + {beta:.3g})", "std": f"sqrt({variance}) + {beta:.3g}",
            "var": f"{variance} + {beta:.3g}"}[form]


def layer_norm_clue(normalise, where: str, n: int) -> list[Clue]:
    """``normalise(x, eps)``: the learner's LayerNorm (weight 1, bias 0) of rows x with that eps."""
    x, v = _rows(n)
    fits = {}
    for eps in (1e-5, 1e-3, 0.1):
        y = normalise(x, eps)
        if not isinstance(y, torch.Tensor) or y.shape != x.shape:
            return []
        d = denominators(x, y.double())
        if d is None:
            if not torch.isfinite(y).all():
                return []
            return [_not_normalised(where, x, y.double(), eps)]
        fit = fit_denominator(d, v, n)
        if fit is None:
            return [Clue(where, f"{where} divides each centred token by a number that is none of sqrt(var + eps), "
                         "std + eps or var + eps", f"eps={eps:g}: variance {v[4]:.0e} -> divisor {d[4]:.4g}; variance "
                         f"{v[7]:.0g} -> {d[7]:.4g}", rank=1)]
        fits[eps] = fit
    forms = {(form, round(alpha, 6)) for form, alpha, _ in fits.values()}
    right = all(form == "sqrt" and abs(alpha - 1) < 1e-6 and abs(beta - eps) <= 1e-6 * eps
                for eps, (form, alpha, beta) in fits.items())
    if right or len(forms) != 1:
        return []
    said = "; ".join(f"eps={eps:g}: {_describe(*fit, n)}" for eps, fit in fits.items())
    betas = [beta for _, _, beta in fits.values()]
    eps_values = list(fits)
    form, alpha, _ = next(iter(fits.values()))
    if form == "sqrt" and abs(alpha - 1) < 1e-6:
        if max(betas) - min(betas) <= 1e-6 * max(max(betas), 1e-300):
            follow = f"a fixed eps of {betas[0]:.3g} whatever eps it is given"
        elif all(b > 0 for b in betas):
            power = math.log(betas[2] / betas[0]) / math.log(eps_values[2] / eps_values[0])
            follow = f"eps**{power:.3g} instead of eps" if abs(power - round(power * 2) / 2) < 0.01 else \
                "an eps that changes with the eps given, but is not it"
        else:
            follow = "an eps that is not the one given"
        return [Clue(where, f"{where} uses {follow}: it divides by {_describe(*fits[1e-5], n)} when given eps=1e-05",
                     f"fitted divisor (reproduces your output): {said}", rank=0, part="LayerNorm")]
    return [Clue(where, f"{where} divides by {_describe(*fits[1e-5], n)} when given eps=1e-05; LayerNorm divides by "
                 "sqrt(var + eps), var biased", f"fitted divisor (reproduces your output): {said}", rank=0,
                 part="LayerNorm")]


def _not_normalised(where: str, x: torch.Tensor, y: torch.Tensor, eps: float) -> Clue:
    """The output is not (x - mean) times one factor per token: say what it is, where the numbers show it."""
    evidence = f"eps={eps:g} (weight 1, bias 0): a token {_short(x[7])} gives {_short(y[7])}"
    if float((y - y[:1, :1]).abs().max()) < 1e-9:
        said = f"{where} gives {number(float(y[0, 0]))} for every feature of every token: the token never reaches it"
        return Clue(where, said, evidence, rank=0, part="LayerNorm")
    factor = (x * y).sum(-1) / (x * x).sum(-1)  # y = factor * x, the token itself: its mean never subtracted
    if bool(((y - factor[:, None] * x).abs().amax(-1) <= 1e-6 * y.abs().amax(-1).clamp_min(1e-300)).all()):
        said = f"{where} does not subtract the token's mean: its output is the token itself times one factor"
        return Clue(where, said, evidence, rank=0, part="LayerNorm")
    return Clue(where, f"{where}'s output for a token is not the token minus its mean times one factor: it does not "
                "normalise each token over its features as LayerNorm does", evidence, rank=1, part="LayerNorm")


def _short(values: torch.Tensor) -> str:
    return "[" + ", ".join(number(float(v)) for v in values[:4]) + ", ...]"


def _switched_off(norm_first: bool, eps: float = 1e-5) -> BlockWeights:
    """Both sub-layers add exactly 0 (zero weights and biases), the norms weight 1 and bias 0."""
    zero_ff = (torch.zeros(2 * D, D, dtype=F64), torch.zeros(2 * D, dtype=F64))
    return BlockWeights(_zero_attention(), zero_ff, (torch.zeros(D, 2 * D, dtype=F64), torch.zeros(D, dtype=F64)),
                        _ones_zeros(), _ones_zeros(), eps, "relu", norm_first)


def residual_clues(lab: Lab) -> tuple[list[Clue], bool]:
    """With both sub-layers switched off, pre-LN is x + 0 + 0 = x and post-LN is norm2(norm1(x)): what the
    residual path carries, whatever the sub-layers do. Returns the clues and whether pre-LN's path is right."""
    x, _ = _rows(D)
    x = x[None, 5:]  # variances 1e-4 to 100: LayerNorm's eps does not matter
    eps = 0.1  # large: norm2(norm1(x)) then differs visibly from one LayerNorm of x

    def norm(z):
        return (z - z.mean(-1, keepdim=True)) / torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + eps)

    normed = norm(x)
    clues, pre_right = [], False
    for norm_first, expected, says in ((True, x, "x + 0 + 0 = x"), (False, norm(normed), "norm2(norm1(x))")):
        layout = "pre-LN (norm_first=True)" if norm_first else "post-LN (norm_first=False)"
        got = lab.block(f"wiring-{norm_first}", _switched_off(norm_first, eps))(x)
        if not isinstance(got, torch.Tensor) or got.shape != x.shape or not torch.isfinite(got).all():
            continue
        got = got.double()
        if float((got - expected).abs().max()) <= 1e-7:  # finite, checked above
            pre_right = pre_right or norm_first
            continue
        evidence = (f"layer_norm_eps={eps:g}: a token {_short(x[0, 2])} gives {_short(got[0, 2])}; {says} is "
                    f"{_short(expected[0, 2])}")
        where = f"the residual path, {layout}"
        if float((got - got[:, :1]).abs().max()) < 1e-9:
            lost = "the residual connection (x + sublayer(...)) does not carry the input through" if norm_first else \
                "the input is lost on its way through the residual adds and the two norms"
            said = (f"with both sub-layers switched off (their weights zero), your block in {layout} gives the same "
                    f"output whatever its input: {lost}; it must give {says}")
        elif norm_first and float((got - normed).abs().max()) < 1e-7:
            said = (f"in {layout}, with both sub-layers switched off, your block returns LayerNorm(x) where it must "
                    "return x: the residual adds the normalised input; pre-LN adds x itself, x + sublayer(norm(x))")
        elif float((got - normed).abs().max()) < 1e-7:
            said = (f"in {layout}, with both sub-layers switched off, your block applies LayerNorm once where it must "
                    "apply it twice, norm2(norm1(x)): the feed-forward's residual starts from the block's input x "
                    "instead of norm1's output, or a norm is skipped")
        else:
            said = (f"with both sub-layers switched off (their weights zero), your block in {layout} must give "
                    f"{says}, and does not: the residual path or the norms around it differ")
        clues.append(Clue(where, said, evidence, rank=1))
    return clues, pre_right


def block_component_clues(lab: Lab) -> list[Clue]:
    wiring, pre_right = residual_clues(lab)
    clues = activation_clues(lab) + wiring
    if not pre_right:
        return clues  # the LayerNorm analysis below reads norm2 through pre-LN's residual: not when that is wrong
    n = D
    eye = torch.eye(n, dtype=F64)
    zero_ff = torch.zeros(2 * n, dtype=F64)

    def normalise(x, eps, activation="relu"):
        w = BlockWeights(_zero_attention(), (torch.cat([eye, -eye]), zero_ff),
                         (torch.cat([eye, -eye], 1), torch.zeros(n, dtype=F64)), _ones_zeros(), _ones_zeros(), eps,
                         activation, True)
        out = lab.block(f"norm-{eps}-{activation}", w)(x[None])
        return out[0] - x if isinstance(out, torch.Tensor) and out.shape == x[None].shape else None

    x, _ = _rows(n)
    with_relu, with_gelu = normalise(x, 1e-5), normalise(x, 1e-5, "gelu")
    if with_relu is None or with_gelu is None or (with_relu - with_gelu).abs().max() > 1e-9:
        return clues  # act(z) - act(-z) is not z in this block: the feed-forward is not the identity it must be
    return clues + layer_norm_clue(normalise, "your LayerNorm (norm2, with the rest of the block switched off)", n)


def layer_norm_unit_clues(learner) -> list[Clue]:
    lab, n = Lab(learner), 7
    return layer_norm_clue(lambda x, eps: lab.layer_norm(f"clue-eps={eps}", n, eps)(x), "your LayerNorm", n)
