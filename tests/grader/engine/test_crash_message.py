"""A crash inside the learner's code, through the real sandbox: the first error names the line and its shapes."""

import dataclasses

from challenge.run_requests import grade_request
from grader import api
from milestones import load_registry

WRONG_UNSQUEEZE = '''\
import math

import torch
import torch.nn as nn


def scaled_dot_product_attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(~mask.flatten(), float("-inf"))  # the mask loses its two axes
    return torch.softmax(scores, dim=-1) @ v


class SelfAttention(nn.Module):
    def __init__(self, d_model, bias=True):
        super().__init__()
        raise NotImplementedError
'''


def test_a_broadcast_error_names_the_learners_line_shapes_and_inputs(tmp_path):
    learner = tmp_path / "attention.py"
    learner.write_text(WRONG_UNSQUEEZE)
    registry = load_registry()
    request = grade_request(registry=registry, milestone=registry.get("attention"), learner_file=learner,
                            passed=set(), seed=3)
    request = dataclasses.replace(request, budgets=dataclasses.replace(request.budgets, run_timeout_s=120))
    result = api.grade(request)
    crashed = [t for t in result.tests if t.status == "error" and "masked_fill" in t.message]
    assert crashed, [t.message for t in result.tests]
    message = crashed[0].message
    assert "At line 10 of attention.py in scaled_dot_product_attention" in message
    assert "your `mask.flatten()` makes it" in message
    assert "does not broadcast against `scores` of shape" in message
    assert "The test called scaled_dot_product_attention with q (" in message and ", mask (" in message
