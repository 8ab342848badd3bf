"""The analyses of issue 23 on small wrong modules written for these tests (not from the
catalogue): each finds where the fault is, with numbers, and says nothing the code does not do.
Run in process (``inprocess.session_for``): trusted code only."""

from __future__ import annotations

import pytest

from grader.judge.diagnosis.clues import analyse
from tests.grader.judge.diagnosis.inprocess import session_for

SDPA = '''
import math, torch
def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) * SCALE
    if mask is not None:
        MASKING
    weights = torch.softmax(scores, dim=AXIS)
    GUARD
    return weights @ v
'''


def sdpa(scale="1 / math.sqrt(q.size(-1))", masking="scores = scores.masked_fill(~mask, float('-inf'))", axis="-1",
         guard="") -> str:
    return SDPA.replace("SCALE", scale).replace("MASKING", masking).replace("AXIS", axis).replace("GUARD", guard)


SELF_ATTENTION = '''
import math, torch, torch.nn as nn
class SelfAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        self.q, self.k, self.v, self.out = (nn.Linear(d_model, d_model, bias=bias) for _ in range(4))
    def forward(self, x, mask=None):
        s = self.q(x) @ self.k(x).transpose(-2, -1) / math.sqrt(x.size(-1))
        if mask is not None:
            s = s.masked_fill(~mask, float('-inf'))
        w = torch.softmax(s, -1)
        if mask is not None:
            w = w.masked_fill(~mask.any(-1, keepdim=True), 0.0)
        return OUTPUT
    @torch.no_grad()
    def load_torch_weights(self, mha):
        wq, wk, wv = mha.in_proj_weight.chunk(3)
        for layer, weight in zip((self.q, self.k, self.v), WEIGHTS):
            layer.weight.copy_(weight)
        self.out.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            for layer, bias in zip((self.q, self.k, self.v), mha.in_proj_bias.chunk(3)):
                layer.bias.copy_(bias)
            self.out.bias.copy_(mha.out_proj.bias)
'''


def self_attention(output="self.out(w @ self.v(x))", weights="(wq, wk, wv)") -> str:
    return SELF_ATTENTION.replace("OUTPUT", output).replace("WEIGHTS", weights)


LAYER_NORM = '''
import torch, torch.nn as nn
class LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(d_model)), nn.Parameter(torch.zeros(d_model)), eps
    def forward(self, x):
        c = x - x.mean(-1, keepdim=True)
        return BODY * self.weight + self.bias
'''


def clues(source: str, unit: str, name: str) -> list:
    with session_for(source, name) as session:
        return analyse(unit, session)


def said(found) -> str:
    return " | ".join(f"{c.summary} {c.evidence}" for c in found)


def test_a_correct_function_and_module_give_no_clue():
    assert clues(sdpa(), "sdpa", "attention.py") == []
    assert clues(self_attention(), "self-attention", "attention.py") == []


def test_an_unused_parameter_never_reaches_the_output():
    found = clues(self_attention(output="w @ self.v(x) @ self.out.weight.T"), "self-attention", "attention.py")
    assert "out_proj.bias is changed: it never reaches" in found[0].summary


def test_a_misrouted_parameter():
    found = clues(self_attention(weights="(wq, wq, wv)"), "self-attention", "attention.py")
    assert any("the k rows of in_proj_weight is changed: it never reaches" in c.summary for c in found), said(found)


def test_a_parameter_used_twice_reaches_twice_as_much():
    found = clues(self_attention(output="self.out(w @ self.v(x)) + self.out.bias"), "self-attention", "attention.py")
    assert "out_proj.bias reaches your output differently" in found[0].summary and "2.000 times" in found[0].summary


def test_a_leaking_mask_names_the_query_and_key():
    found = clues(sdpa(masking="scores = scores.masked_fill(~(mask | torch.eye(mask.size(-1), dtype=torch.bool)), "
                       "float('-inf'))"), "sdpa", "attention.py")
    assert "which the mask hides" in said(found), said(found)


def test_a_fitted_scale_says_which_size_it_follows():
    found = clues(sdpa(scale="1 / math.sqrt(k.size(-2))"), "sdpa", "attention.py")
    assert found[0].summary.startswith("the scores are scaled by 1/sqrt(T_k)"), said(found)
    found = clues(sdpa(scale="0.5"), "sdpa", "attention.py")
    assert "a fixed 0.5 whatever the sizes" in found[0].summary, said(found)


def test_two_mistakes_at_once_softmax_axis_with_a_nan_guard():
    found = clues(sdpa(axis="-2", guard="weights = torch.nan_to_num(weights)"), "sdpa", "attention.py")
    assert any("sum to 1 down each key's column" in c.summary for c in found), said(found)


@pytest.mark.parametrize(("body", "expect"), [
    ("c / torch.sqrt(c.pow(2).mean(-1, keepdim=True) + 1e-12)", "a fixed eps of 1e-12 whatever eps it is given"),
    ("c / (x.std(-1, keepdim=True) + self.eps)", "sqrt(the unbiased var (divided by n - 1)) + 1e-05"),
    ("c / torch.sqrt(c.pow(2).mean(-1, keepdim=True) + self.eps ** 2)", "eps**2 instead of eps"),
    ("c / x.std(-1, keepdim=True)", "sqrt(the unbiased var (divided by n - 1)) with no eps"),  # no 2.6e-25 noise
])
def test_layer_norm_eps_and_variance_are_fitted(body, expect):
    found = clues(LAYER_NORM.replace("BODY", body), "layer-norm", "block.py")
    assert found and expect in found[0].summary, said(found)


def test_two_mistakes_at_once_merge_without_transpose_and_missing_biases():
    from pathlib import Path

    reference = Path(__file__).parents[4] / "milestones" / "02_multihead" / "reference.py"
    source = reference.read_text().replace(
        "y = y.transpose(1, 2).contiguous().view(B, T, D)  # merge heads", "y = y.contiguous().view(B, T, D)").replace(
        "self.qkv.bias.copy_(mha.in_proj_bias)", "self.qkv.bias.zero_()").replace(
        "self.out.bias.copy_(mha.out_proj.bias)", "self.out.bias.zero_()")
    found = clues(source, "multihead", "multihead.py")
    assert found[0].summary.startswith("your output does not change when the q bias"), said(found)
    assert "out_proj.bias are changed: they never reach" in found[0].summary
    assert any(c.where == "after the attention weights" for c in found), said(found)


def test_a_fill_the_probes_cannot_pin_down_is_not_printed():
    from grader.judge.diagnosis.hooks import finding_for

    source = sdpa(masking="scores = scores.masked_fill(~mask, -1e5)")
    with session_for(source, "attention.py") as session:
        finding = finding_for(session, "sdpa")
    assert finding.mistake == "finite-fill"
    assert "finite number" in finding.summary and "e9" not in finding.summary and "e5" not in finding.summary, \
        finding.summary


def test_a_scale_that_follows_a_size_is_not_called_fixed():
    from grader.judge.diagnosis.hooks import finding_for

    with session_for(sdpa(scale="1 / math.sqrt(k.size(-2))"), "attention.py") as session:
        finding = finding_for(session, "sdpa")
    assert "fixed" not in finding.summary and "hard-coded" not in finding.summary, finding.summary
    assert "1/sqrt(T_k)" in finding.summary


@pytest.mark.parametrize(("find", "replace", "expect"), [
    ('"gelu": F.gelu}', '"gelu": lambda z: z * torch.sigmoid(1.702 * z)}',
     "with activation='gelu', your feed-forward's"),
    ("torch.sqrt(var + self.eps)", "torch.sqrt(var + 1e-12)", "a fixed eps of 1e-12 whatever eps it is given"),
])
def test_block_components_are_pulled_out_with_chosen_weights(find, replace, expect):
    from pathlib import Path

    reference = (Path(__file__).parents[4] / "milestones" / "03_block" / "reference.py").read_text()
    assert find in reference
    found = clues(reference.replace(find, replace), "block", "block.py")
    assert found and expect in found[0].summary, said(found)


def _block_with(*edits: tuple[str, str]) -> str:
    from pathlib import Path

    source = (Path(__file__).parents[4] / "milestones" / "03_block" / "reference.py").read_text()
    for find, replace in edits:
        assert find in source
        source = source.replace(find, replace)
    return source


def _block_finding(source: str):
    from grader.judge.diagnosis.hooks import finding_for

    with session_for(source, "block.py") as session:
        return finding_for(session, "block")


PRE_LN_ADD = "x = x + self._sa(self.norm1(x), mask, key_padding_mask)"
POST_LN_FF = "return self.norm2(x + self._ff(x))"


@pytest.mark.parametrize(("edits", "expect"), [
    ([(POST_LN_FF, "return self.norm2(self._ff(x))")],
     "your block in post-LN (norm_first=False) gives the same output whatever its input"),
    ([(PRE_LN_ADD, "x = self.norm1(x) + self._sa(self.norm1(x), mask, key_padding_mask)")],
     "your block returns LayerNorm(x) where it must return x"),
    ([("x = self.norm1(x + self._sa(x, mask, key_padding_mask))  # post-LN",  # the ff's residual from the input
       "h = self.norm1(x + self._sa(x, mask, key_padding_mask))  # post-LN"),
      (POST_LN_FF, "return self.norm2(x + self._ff(h))")],
     "applies LayerNorm once where it must apply it twice"),
])
def test_the_residual_path_is_read_with_both_sub_layers_switched_off(edits, expect):
    source = _block_with(*edits)
    finding = _block_finding(source)
    # a residual feeds every later part, so the probes' parts all fail: the analysis comes first, not "... differ"
    assert expect in finding.summary, finding.summary
    assert "no known mistake matches" not in finding.summary


def test_a_wrong_pre_ln_residual_is_not_read_as_a_wrong_layer_norm():
    """The LayerNorm analysis reads norm2 through pre-LN's residual: with that residual wrong it says nothing (the
    LayerNorm is right), where it used to describe a LayerNorm that 'does not normalise'."""
    found = clues(_block_with((PRE_LN_ADD, "x = self.norm1(x) + self._sa(self.norm1(x), mask, key_padding_mask)")),
                  "block", "block.py")
    assert not any("LayerNorm (norm2" in c.summary for c in found), said(found)


@pytest.mark.parametrize(("body", "expect"), [
    ("x / torch.sqrt(c.pow(2).mean(-1, keepdim=True) + self.eps)", "does not subtract the token's mean"),
    ("torch.ones_like(x)", "gives 1.000 for every feature of every token: the token never reaches it"),
])
def test_a_layer_norm_that_does_not_normalise_says_how(body, expect):
    found = clues(LAYER_NORM.replace("BODY", body), "layer-norm", "block.py")
    assert found and expect in found[0].summary, said(found)


def test_post_ln_reach_names_a_norm_that_never_reaches_the_output():
    finding = _block_finding(_block_with((POST_LN_FF, "return self.norm1(x + self._ff(x))")))
    assert finding.summary.startswith("your output does not change when norm2.weight and norm2.bias are changed"), \
        finding.summary


@pytest.mark.parametrize(("output", "expect"), [
    ("self.out(self.out(w @ self.v(x)))", "applies out_proj.weight twice"),
    ("(w @ self.v(x)) @ self.out.weight.T - self.out.bias", "subtracts out_proj.bias"),
    ("(w @ self.v(x)) @ self.out.weight + self.out.bias", "uses out_proj.weight transposed"),
    ("self.out(w @ self.v(x)) + self.out.bias", "adds out_proj.bias twice"),
    ("self.out(w @ self.v(x)) if mask is None else (w @ self.v(x)) @ self.out.weight.T",  # only a mask shows it
     "with a causal mask, the attention itself is right (with W_o = I your output is the attention's output), but "
     "your module never adds out_proj.bias"),
])
def test_the_output_projection_is_read_off_by_fitting(output, expect):
    found = clues(self_attention(output=output), "self-attention", "attention.py")
    assert any(c.where == "the output projection" and expect in c.summary for c in found), said(found)


def test_a_fault_before_the_output_projection_is_not_blamed_on_it():
    found = clues(self_attention(output="self.out(w.transpose(-2, -1) @ self.v(x))"), "self-attention",
                  "attention.py")
    assert not any(c.where == "the output projection" for c in found), said(found)
