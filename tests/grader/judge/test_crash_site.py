"""The judge's side of a crash: the worker's description is checked against the file, then shown."""


import pytest
import torch

from grader.engine.plugin import classify
from grader.judge.crash_site import describe_inputs, locate, site_of
from grader.judge.errors import problem_of
from grader.messages import Response
from grader.source import LearnerSource

SOURCE = """import torch


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1)
    scores = scores.masked_fill(mask.unsqueeze(1) == 0, float("-inf"))
    return scores.softmax(-1) @ v
"""
CLAIM = {"line": 6, "function": "attention",
         "tensors": [{"name": "scores", "shape": [2, 4, 4], "dtype": "float32", "device": "cpu"},
                     {"name": "mask", "shape": [4, 4], "dtype": "bool", "device": "cpu"}],
         "expressions": [{"text": "mask.unsqueeze(1)", "shape": [4, 1, 4], "dtype": "bool"}],
         "conflict": {"op": "masked_fill", "left": "scores", "left_shape": [2, 4, 4],
                      "right": "mask.unsqueeze(1) == 0", "right_shape": [4, 1, 4]},
         "parameters": ["q", "k", "v", "mask"]}


@pytest.fixture
def learner_file() -> LearnerSource:
    """The source the run graded (read once): the judge checks the worker's claim against these bytes."""
    return LearnerSource(name="attention.py", data=SOURCE.encode())


def _raised(claim, learner_file, payload=None):
    error = problem_of(Response.from_wire({"ok": False, "error": {
        "kind": "exception", "type": "RuntimeError", "site": claim,
        "message": "RuntimeError: The size of tensor a (4) must match"}}))
    locate(error, source=learner_file, what="attention(...)", payload=payload)
    return error


def test_the_message_names_the_line_the_shapes_the_conflict_and_the_inputs_sent(learner_file):
    q = torch.zeros(2, 4, 8)
    payload = {"args": [q, q, q], "kwargs": {"mask": torch.ones(4, 4, dtype=torch.bool)}}
    status, message, hint = classify(_raised(CLAIM, learner_file, payload))
    assert status == "error"
    assert message.splitlines()[0] == "Your code raised RuntimeError: The size of tensor a (4) must match"
    assert "At line 6 of attention.py in attention: `scores = scores.masked_fill(mask.unsqueeze(1) == 0, " in message
    assert message.count("scores = scores.masked_fill") == 1  # no traceback here: the source line is shown once
    assert "mask has shape (4, 4) bool; your `mask.unsqueeze(1)` makes it (4, 1, 4)" in message
    assert "`mask.unsqueeze(1) == 0` of shape (4, 1, 4) does not broadcast against `scores` of shape (2, 4, 4)" \
        in message
    assert "The test called attention with q (2, 4, 8) float32, k (2, 4, 8) float32, v (2, 4, 8) float32, " \
           "mask (4, 4) bool." in message
    assert "Line 6" in hint


@pytest.mark.parametrize("change", [
    {"line": 99}, {"line": 0}, {"line": "6"}, {"line": True},
])
def test_a_line_that_is_not_in_the_file_drops_the_whole_description(learner_file, change):
    assert site_of(CLAIM | change, learner_file.text) is None


@pytest.mark.parametrize("tensor", [
    {"name": "secret_text_not_on_the_line", "shape": [1], "dtype": "float32", "device": "cpu"},
    {"name": "scores", "shape": [2, -1], "dtype": "float32", "device": "cpu"},
    {"name": "scores", "shape": [1] * 9, "dtype": "float32", "device": "cpu"},
    {"name": "scores", "shape": [2 ** 50], "dtype": "float32", "device": "cpu"},
    {"name": "scores", "shape": [2.5], "dtype": "float32", "device": "cpu"},
    {"name": "scores", "shape": [2], "dtype": "PASS", "device": "cpu"},
    {"name": "scores", "shape": [2], "dtype": "float32", "device": "http://x"},
    {"name": "scores`", "shape": [2], "dtype": "float32", "device": "cpu"},
    "scores", None, {"name": ["scores"], "shape": [2]},
])
def test_claims_that_do_not_hold_are_dropped_one_by_one(learner_file, tensor):
    site = site_of(CLAIM | {"tensors": [tensor, CLAIM["tensors"][1]]}, learner_file.text)
    assert [t.text for t in site.tensors] == ["mask"]


def test_a_flood_is_bounded(learner_file):
    site = site_of(CLAIM | {"tensors": CLAIM["tensors"] * 1000, "parameters": ["p"] * 1000,
                            "function": "x" * 500}, learner_file.text)
    assert len(site.tensors) <= 8 and len(site.parameters) <= 16 and site.function == ""


@pytest.mark.parametrize("claim", [None, "line 6", [6], {"line": 6, "conflict": {"op": "rm -rf", "left": "scores"}}])
def test_garbage_never_breaks_the_error_it_rides_on(learner_file, claim):
    status, message, _ = classify(_raised(claim, learner_file))
    assert status == "error" and message.startswith("Your code raised RuntimeError")


def test_inputs_without_parameter_names_are_numbered():
    assert describe_inputs([torch.zeros(3), 4], {"flag": None}) == "argument 1 (3,) float32, argument 2 4, flag None"
