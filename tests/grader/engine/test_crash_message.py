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


CRASHING_LOOP = '''\
import torch
from torch import nn


def build_model(spec):
    return nn.Embedding(spec["vocab_size"], 4)


def train(model, task):
    for ids, padding_mask, labels in task.batches(16):
        logits = model(ids).mean(1)
        loss = nn.functional.cross_entropy(logits, labels.unsqueeze(1))
'''


def test_a_crash_in_the_training_loop_is_shown_at_its_line(tmp_path):
    from tests.grader.engine.test_training_budget import TinyTask

    learner = tmp_path / "classifier.py"
    learner.write_text(CRASHING_LOOP)
    outcome = api.train(api.TrainRequest(milestone_id="tiny", learner_file=learner, task=TinyTask(), budget_s=2.0,
                                         memory_mb=2048))
    assert outcome.status == "error"
    assert "At line 12 of classifier.py in train" in outcome.message
    assert "logits has shape (16, 4) float32" in outcome.message
    assert "your `labels.unsqueeze(1)` makes it (16, 1)" in outcome.message
