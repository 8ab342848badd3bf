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
