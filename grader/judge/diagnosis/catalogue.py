"""Every mistake the judge can name: its stable id, the one line the learner reads, the hint,
and the units whose probes can show it. This is the one list of ids: milestone
hints are tagged with them (``mistakes: [...]`` in milestone.yaml), mutants in
``mutants.yaml`` expect them, and results carry them (``Diagnosis.mistake``;
two mistakes at once are joined with "+"). Ids are stable: rename one only
with every tag and mutant that uses it.

Units: ``sdpa`` (the attention function), ``self-attention`` (one-head module),
``multihead``, ``layer-norm`` (the LayerNorm class alone) and ``block``.
Mistakes of one family exclude each other (they are never tried as a pair).
"""

from __future__ import annotations

import math

import torch

from grader.judge.diagnosis.attention_model import PERMUTATIONS
from grader.judge.diagnosis.block_model import LN_AXES, LN_EPS
from grader.judge.diagnosis.engine import FitContext, MistakeSpec, Variant


def fit_scale(context: FitContext) -> list[float]:
    """The constant the scores are multiplied by, read off the first failing probe that shows it."""
    for probe in context.failing:
        observed = context.observations[probe.name]
        if not isinstance(observed, torch.Tensor) or not torch.isfinite(observed).all():
            continue

        def error(log_c: float) -> float:
            predicted = context.predict(probe, Variant.of(("scale-constant", 10.0 ** log_c)))
            if not isinstance(predicted, torch.Tensor) or predicted.shape != observed.shape:
                return math.inf
            return float((predicted - observed.double()).abs().max())

        grid = [i / 10 for i in range(-30, 31)]
        errors = [error(g) for g in grid]
        best = min(range(len(grid)), key=errors.__getitem__)
        if not math.isfinite(errors[best]):
            continue
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        for _ in range(40):  # golden-section search on the bracket
            a, b = high - (high - low) / 1.618, low + (high - low) / 1.618
            if error(a) < error(b):
                high = b
            else:
                low = a
        return [float(f"{10.0 ** ((low + high) / 2):.6g}")]
    return []


ATTENTION = ("sdpa", "self-attention", "multihead", "block")
MODULES = ("self-attention", "multihead", "block")
HEADS = ("multihead", "block")
NORMS = ("layer-norm", "block")
BLOCK = ("block",)

FILLS = (-1e9, -1e4, 0.0, -1.0, -10.0, -100.0, -1e3, -1e5, 1e9)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    text = f"{value:.0e}".replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    return text if abs(value) >= 1e4 else f"{value:g}"


def _fill(param) -> str:
    fill, zeroed = param
    said = (f"masked scores are filled with a finite number ({_number(fill)}) instead of -inf"
            if fill != 0 else "masked scores are set to 0 (or a number near 0) instead of -inf, so masking barely acts")
    if not zeroed and fill != 0:
        said += ", so a query with every key masked averages all values instead of getting zeros"
    elif fill < 0 and zeroed:
        said += ": scores below it lose to the masked ones"
    return said


def _order(param, what: str = "in_proj_weight") -> str:
    names = ", ".join(f"{'qkv'[i]}'s" for i in param)
    return (f"the chunks of {what} are used in the wrong order: q, k and v get {names} "
            "(the layout is [q; k; v])")


def _bias_order(param) -> str:
    """Only what the output shows: a bias on k adds the same amount to all of one query's scores, which the
    softmax removes, so which chunk k gets is never claimed."""
    wrong = [f"{role} gets {'qkv'[source]}'s" for role, source in (("q", param[0]), ("v", param[2]))
             if 'qkv'[source] != role]
    return ("the chunks of in_proj_bias are used in the wrong order: " + " and ".join(wrong) + " (the layout is "
            "[q; k; v]; which chunk k gets cannot show in the output: a bias on k shifts all of a query's scores "
            "equally, and the softmax ignores that)")


def _scale(param) -> str:
    c = float(param)
    square = 1 / (c * c)
    said = f"the scores are scaled by a fixed {c:.4g}"
    if abs(square - round(square)) < 1e-3 * square and round(square) > 1:
        said += f" (1/sqrt({round(square)}))"
    return said + " whatever d_k is (a hard-coded constant?); it must be 1/sqrt(d_k), d_head per head"


def _axes(param) -> str:
    where = {(-2,): "the tokens (dim=-2)", (-2, -1): "the tokens and the features together",
             (0,): "the batch (dim=0)"}.get(param, str(param))
    return f"LayerNorm normalises over {where} instead of the last axis (the features)"


def _eps(param) -> str:
    return f"LayerNorm uses eps={param:g} whatever layer_norm_eps / eps it is given (hard-coded?)"


SCALE_HINT = "Multiply the scores q @ k^T by 1/sqrt(d_k) before the softmax, d_k = q.size(-1) (d_head in each head)."
MASK_HINT = "Mask with scores.masked_fill(~mask, float('-inf')) before the softmax; True means 'may attend'."
PAD_HINT = ("key_padding_mask is (B, T_k), True = padding: broadcast it to (B, 1, 1, T_k) so every query in every head "
            "ignores those keys, and combine it with the attention mask (both must allow a key).")
BIAS_HINT = "Add every bias: q = x @ W_q.T + b_q (b_q, b_k, b_v are in_proj_bias.chunk(3)), and out_proj.bias at the end."
DROPOUT_HINT = ("Use nn.Dropout(p) modules (or F.dropout(x, p, training=self.training)): they drop with probability p "
                "and scale what is kept by 1/(1-p), in train mode only.")
LAYOUT_HINT = ("Post-LN (norm_first=False): x = norm1(x + attn(x)); x = norm2(x + ff(x)). "
               "Pre-LN (norm_first=True): x = x + attn(norm1(x)); x = x + ff(norm2(x)).")
LN_HINT = "LayerNorm: (x - mean) / sqrt(var + eps) * weight + bias over the last axis, var biased (unbiased=False)."

MISTAKES: tuple[MistakeSpec, ...] = (
    # -- the scale -------------------------------------------------------------------------------------
    MistakeSpec("no-scale", "no 1/sqrt(d_k) scaling of the scores", SCALE_HINT, ATTENTION, "scale"),
    MistakeSpec("scale-by-d", "the scores are divided by d_k instead of sqrt(d_k)", SCALE_HINT, ATTENTION, "scale"),
    MistakeSpec("scale-multiplied", "the scores are multiplied by sqrt(d_k) instead of divided by it",
                SCALE_HINT, ATTENTION, "scale"),
    MistakeSpec("scale-d-model", "scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_head)", SCALE_HINT, HEADS,
                "scale"),
    MistakeSpec("scale-by-d-v", "the scores are scaled by 1/sqrt(d_v), the size of v, instead of 1/sqrt(d_k)",
                SCALE_HINT, ("sdpa",), "scale"),
    MistakeSpec("scale-after-softmax", "the 1/sqrt(d_k) scaling is applied to the weights after the softmax, "
                "not to the scores before it", SCALE_HINT, ATTENTION, "scale"),
    # -- the softmax -----------------------------------------------------------------------------------
    MistakeSpec("softmax-over-queries", "softmax over the queries axis (dim=-2) instead of the keys (dim=-1)",
                "Each query's weights over the keys sum to 1: softmax(scores, dim=-1).", ATTENTION, "softmax"),
    MistakeSpec("softmax-over-heads", "softmax over the heads axis (dim=1) instead of the keys (dim=-1)",
                "Each query's weights over the keys sum to 1: softmax(scores, dim=-1).", HEADS, "softmax"),
    MistakeSpec("softmax-without-max", "an unstable softmax: exp(scores) without subtracting each row's maximum "
                "overflows to inf (then NaN) once scores pass about 700",
                "Use torch.softmax, or subtract scores.amax(-1, keepdim=True) before exp.", ATTENTION, "stability"),
    # -- the attention mask ----------------------------------------------------------------------------
    MistakeSpec("mask-ignored", "the attention mask is ignored (never applied, or not passed on to the attention)",
                MASK_HINT, ATTENTION, "mask", params=(False, True)),  # True: used only to zero fully masked rows
    MistakeSpec("mask-inverted", "the mask is inverted: True means 'may attend' here (nn.MultiheadAttention uses "
                "True = blocked)", MASK_HINT, ATTENTION, "mask"),
    MistakeSpec("mask-transposed", "the mask is applied transposed: mask[..., i, j] says whether query i may attend "
                "to key j", "Mask the scores (..., T_q, T_k) with the mask as given, without transposing it.",
                ATTENTION, "mask", params=(False, True)),  # True: fully masked rows still found on the mask as given
    MistakeSpec("mask-after-softmax", "the mask zeroes weights after the softmax, so the remaining weights no longer "
                "sum to 1", MASK_HINT, ATTENTION, "fill"),
    MistakeSpec("finite-fill", "masked scores filled with a finite number instead of -inf", MASK_HINT, ATTENTION,
                "fill", params=tuple((f, z) for f in FILLS for z in (False, True)), describe=_fill),
    MistakeSpec("empty-rows-nan", "a query whose keys are all masked gets NaN (the softmax of a row of -inf) "
                "instead of zeros", "Set the weights of rows with no allowed key to 0 (e.g. masked_fill(~mask.any(-1, "
                "keepdim=True), 0.0) after the softmax).", ATTENTION, "fill"),
    MistakeSpec("bool-mask-added", "the boolean mask is added to the scores (+1 where allowed) instead of "
                "masking with -inf", MASK_HINT, ATTENTION, "fill"),
    # -- key padding ------------------------------------------------------------------------------------
    MistakeSpec("key-padding-ignored", "key_padding_mask is ignored (never applied, or not passed on to the "
                "attention)", PAD_HINT, HEADS, "padding"),
    MistakeSpec("key-padding-inverted", "key_padding_mask is inverted: True marks padding (the Hugging Face "
                "attention_mask uses the opposite)", PAD_HINT, HEADS, "padding"),
    MistakeSpec("padding-on-queries", "key_padding_mask applied to the queries instead of the keys", PAD_HINT, HEADS,
                "padding"),
    MistakeSpec("masks-combined-with-or", "the attention mask and key_padding_mask are combined with OR: a key "
                "must be allowed by both (AND)", PAD_HINT, HEADS, "combine"),
    # -- projections and loading ----------------------------------------------------------------------
    MistakeSpec("no-out-proj", "the output projection (out_proj) is missing",
                "Apply out_proj to the merged heads: y @ W_o.T + b_o.", MODULES, "out"),
    MistakeSpec("qk-swapped", "q and k taken from the wrong chunks of in_proj_weight (order is [W_q; W_k; W_v])",
                "in_proj_weight.chunk(3) gives W_q, W_k, W_v in that order (in_proj_bias too).", MODULES, "order"),
    MistakeSpec("qkv-chunks-permuted", "the chunks of in_proj_weight are used in the wrong order",
                "in_proj_weight.chunk(3) gives W_q, W_k, W_v in that order (in_proj_bias too).", MODULES, "order",
                params=PERMUTATIONS[1:], describe=_order),
    MistakeSpec("bias-chunks-permuted", "the chunks of in_proj_bias are used in the wrong order",
                "in_proj_bias.chunk(3) gives b_q, b_k, b_v in that order.", MODULES, "bias-order",
                params=PERMUTATIONS, describe=_bias_order),
    MistakeSpec("no-transpose-weights", "weights applied without transposing: F.linear computes x @ W.T + b",
                "nn.Linear and F.linear compute x @ W.T + b: copy W as it is into an nn.Linear, or use x @ W.T.",
                MODULES, "transpose"),
    MistakeSpec("no-transpose-out-weight", "out_proj.weight applied without transposing: F.linear computes "
                "x @ W.T + b", "Copy out_proj.weight as it is into an nn.Linear, or compute y @ W_o.T.", MODULES,
                "transpose"),
    MistakeSpec("no-transpose-in-weights", "the q/k/v weights applied without transposing: F.linear computes "
                "x @ W.T + b", "Copy each chunk of in_proj_weight as it is into an nn.Linear, or use x @ W.T.",
                MODULES, "transpose"),
    MistakeSpec("no-bias", "the biases were not added (in_proj_bias and out_proj.bias)", BIAS_HINT, MODULES, "bias"),
    MistakeSpec("no-out-bias", "the output bias (out_proj.bias) is not added", BIAS_HINT, MODULES, "bias"),
    MistakeSpec("no-qkv-bias", "the q/k/v biases (in_proj_bias) are not added; out_proj.bias is", BIAS_HINT,
                MODULES, "bias"),
    MistakeSpec("no-q-bias", "the query bias (the first third of in_proj_bias) is not added", BIAS_HINT, MODULES,
                "bias"),
    MistakeSpec("no-v-bias", "the value bias (the last third of in_proj_bias) never reaches the values (missing, "
                "or added to the keys instead, where it changes nothing)", BIAS_HINT, MODULES, "bias"),
    MistakeSpec("biases-not-loaded", "the biases were not copied: load_torch_weights leaves the module's own "
                "initial biases", "Copy in_proj_bias (in the same layout as in_proj_weight) and out_proj.bias too.",
                MODULES, "bias"),
    MistakeSpec("batch-first-confusion", "x is treated as (T, B, D): attention runs across batch items, but "
                "batch_first=True means (B, T, D)", "Attend over axis 1 (the tokens) of x (B, T, D); never mix "
                "batch items.", ("self-attention", "multihead"), "layout"),
    # -- heads --------------------------------------------------------------------------------------------
    MistakeSpec("heads-without-transpose", "heads split by viewing (B, T, d_model) as (B, H, T, d_head) without the "
                "transpose: the shapes fit but tokens are mixed between heads",
                "Split with x.view(B, T, H, d_head).transpose(1, 2).", HEADS, "split"),
    MistakeSpec("heads-interleaved", "heads split as strided columns (view(B, T, d_head, H)): head h must take "
                "the contiguous columns h*d_head .. (h+1)*d_head - 1", "Split with x.view(B, T, H, d_head)"
                ".transpose(1, 2).", HEADS, "split"),
    MistakeSpec("heads-not-split", "the heads are never split: one attention over all of d_model",
                "Split into n_heads heads of d_head = d_model // n_heads and attend in each.", HEADS, "split"),
    MistakeSpec("merge-without-transpose", "heads merged by viewing (B, H, T, d_head) as (B, T, d_model) without "
                "transposing back", "Merge with y.transpose(1, 2).reshape(B, T, d_model).", HEADS, "merge"),
    MistakeSpec("merge-interleaved", "heads merged in the wrong order: the output must hold head 0's d_head values, "
                "then head 1's, and so on", "Merge with y.transpose(1, 2).reshape(B, T, d_model).", HEADS, "merge"),
    MistakeSpec("batch-heads-mixed", "heads folded into the batch axis in one order and unfolded in another: "
                "batch items and heads are mixed", "Keep (B, H, T, d_head) and merge with transpose(1, 2); if you "
                "fold to (B*H, ...), unfold in the same order.", HEADS, "merge"),
    # -- dropout -----------------------------------------------------------------------------------------
    MistakeSpec("dropout-in-eval", "dropout still active in eval mode: two calls on the same input differ",
                DROPOUT_HINT, HEADS, "dropout"),
    MistakeSpec("dropout-never-applied", "the dropout argument is never applied: train mode gives the eval output",
                DROPOUT_HINT, HEADS, "dropout"),
    MistakeSpec("dropout-unscaled", "dropout does not scale the kept values by 1/(1-p) in train mode", DROPOUT_HINT,
                HEADS, "dropout"),
    MistakeSpec("dropout-keep-probability", "dropout uses p as the probability to keep, not to drop", DROPOUT_HINT,
                HEADS, "dropout"),
    MistakeSpec("dropout-on-scores", "dropout acts on the scores before the softmax; PyTorch drops attention "
                "weights after it", "Apply dropout to the attention weights, after the softmax and before @ v.",
                HEADS, "dropout-site"),
    MistakeSpec("dropout-after-out-proj", "dropout acts on the attention's output; nn.MultiheadAttention drops the "
                "attention weights (after the softmax, before @ v)", "Apply dropout to the attention weights, "
                "after the softmax and before @ v.", HEADS, "dropout-site"),
    MistakeSpec("no-dropout-after-attention", "no dropout on the attention sub-layer's output (dropout1 in "
                "nn.TransformerEncoderLayer)", "Drop the attention sub-layer's output before the residual sum: "
                "x + dropout(attn(...)).", BLOCK, "dropout-attention"),
    MistakeSpec("no-dropout-ff-hidden", "no dropout after the feed-forward's activation", "The feed-forward is "
                "dropout(linear2(dropout(activation(linear1(x))))).", BLOCK, "dropout-ff"),
    MistakeSpec("no-dropout-ff-output", "no dropout on the feed-forward's output (dropout2)", "The feed-forward is "
                "dropout(linear2(dropout(activation(linear1(x))))).", BLOCK, "dropout-ff"),
    # -- LayerNorm ---------------------------------------------------------------------------------------
    MistakeSpec("eps-outside-sqrt", "LayerNorm with eps outside the square root: (x - mean) / (std + eps)", LN_HINT,
                NORMS, "ln-denominator"),
    MistakeSpec("ln-divides-by-variance", "LayerNorm divides by var + eps instead of sqrt(var + eps)", LN_HINT, NORMS,
                "ln-denominator"),
    MistakeSpec("unbiased-variance", "LayerNorm with the unbiased variance (divides by n - 1); LayerNorm uses the "
                "biased one", LN_HINT, NORMS, "ln-variance"),
    MistakeSpec("variance-not-centred", "LayerNorm's variance is taken of x, not of x - mean", LN_HINT, NORMS,
                "ln-variance"),
    MistakeSpec("ln-no-centering", "LayerNorm does not subtract the mean (that is RMSNorm)", LN_HINT, NORMS,
                "ln-centre"),
    MistakeSpec("ln-wrong-axis", "LayerNorm normalises over the wrong axis", "Normalise over the last axis only: "
                "mean(-1, keepdim=True), var(-1, keepdim=True, unbiased=False).", NORMS, "ln-axis",
                params=LN_AXES, describe=_axes),
    MistakeSpec("ln-eps-ignored", "LayerNorm ignores the eps it is given", "Use the eps passed in "
                "(layer_norm_eps for the block's norms), not a hard-coded one.", NORMS, "ln-eps", params=LN_EPS,
                describe=_eps),
    MistakeSpec("ln-not-loaded", "the LayerNorm weights (norm1, norm2: weight and bias) were not loaded",
                "Copy norm1.weight/bias and norm2.weight/bias from the nn.TransformerEncoderLayer.", BLOCK,
                "ln-affine"),
    MistakeSpec("ln-bias-missing", "LayerNorm's bias (the shift) is not added", LN_HINT, BLOCK, "ln-affine"),
    MistakeSpec("ln-weight-bias-swapped", "LayerNorm's weight and bias are swapped", LN_HINT, BLOCK, "ln-affine"),
    # -- the block ---------------------------------------------------------------------------------------
    MistakeSpec("ln-order-swapped", "post-LN and pre-LN swapped: norm_first=True means x + attn(norm1(x))",
                LAYOUT_HINT, BLOCK, "layout"),
    MistakeSpec("no-residual", "the residual connections are missing", LAYOUT_HINT, BLOCK, "residual"),
    MistakeSpec("no-attention-residual", "the attention sub-layer's residual connection is missing", LAYOUT_HINT,
                BLOCK, "residual"),
    MistakeSpec("no-ff-residual", "the feed-forward sub-layer's residual connection is missing", LAYOUT_HINT, BLOCK,
                "residual"),
    MistakeSpec("residual-from-normed", "pre-LN residual taken from the normalised x: it is x + attn(norm1(x)), "
                "the residual adds the un-normalised x", LAYOUT_HINT, BLOCK, "layout"),
    MistakeSpec("norm-inside-residual", "post-LN written as x + LN(sublayer(x)): post-LN normalises the sum, "
                "norm1(x + attn(x))", LAYOUT_HINT, BLOCK, "layout"),
    MistakeSpec("parallel-sublayers", "attention and feed-forward run in parallel on x; the feed-forward must see "
                "x after the attention's residual", LAYOUT_HINT, BLOCK, "layout"),
    MistakeSpec("norm1-used-twice", "norm1 is used for both sub-layers; the feed-forward's is norm2", LAYOUT_HINT,
                BLOCK, "norms"),
    MistakeSpec("norm2-used-twice", "norm2 is used for both sub-layers; the attention's is norm1", LAYOUT_HINT,
                BLOCK, "norms"),
    MistakeSpec("norms-swapped", "norm1 and norm2 are swapped: norm1 goes with the attention", LAYOUT_HINT, BLOCK,
                "norms"),
    MistakeSpec("no-activation", "the feed-forward has no activation between linear1 and linear2",
                "The feed-forward is linear2(activation(linear1(x))).", BLOCK, "activation"),
    MistakeSpec("always-relu", "the activation argument is ignored (ReLU always)",
                "activation='gelu' means F.gelu (exact), 'relu' F.relu.", BLOCK, "activation"),
    MistakeSpec("always-gelu", "the activation argument is ignored (GELU always)",
                "activation='gelu' means F.gelu (exact), 'relu' F.relu.", BLOCK, "activation"),
    MistakeSpec("activation-swapped", "ReLU and GELU swapped: activation='gelu' gets ReLU and 'relu' GELU",
                "activation='gelu' means F.gelu (exact), 'relu' F.relu.", BLOCK, "activation"),
    MistakeSpec("tanh-gelu", "the tanh approximation of GELU; nn.TransformerEncoderLayer uses the exact (erf) GELU",
                "Use F.gelu(x) (approximate='none').", BLOCK, "gelu"),
    MistakeSpec("no-ff-bias", "the feed-forward's biases (linear1.bias, linear2.bias) are not added",
                "Copy linear1.bias and linear2.bias too.", BLOCK, "ff-bias"),
    # -- fitted last: a named mistake explains the same numbers better ----------------------------------
    MistakeSpec("scale-constant", "the scores are scaled by a fixed number whatever d_k is", SCALE_HINT, ATTENTION,
                "scale", fit=fit_scale, describe=_scale),
)

BY_ID = {spec.id: spec for spec in MISTAKES}
assert len(BY_ID) == len(MISTAKES), "mistake ids must be unique"


def mistakes_for(unit: str) -> list[MistakeSpec]:
    """The mistakes a unit's probes can show, in the order they are tried (catalogue order)."""
    return [spec for spec in MISTAKES if unit in spec.units]


def known_ids() -> list[str]:
    """Every id the judge can name: what milestone hints may be tagged with."""
    return [spec.id for spec in MISTAKES]
