"""The worker's description of a crash: the learner's innermost line, in shapes only."""

import importlib.util
import json

import pytest
import torch

from grader.worker.crash import crash_site

LEARNER = '''\
import math
import torch


def attention(q, k, v, mask=None):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    if mask is not None:
        scores = scores.masked_fill(mask.unsqueeze(1) == 0, float("-inf"))
    return torch.softmax(scores, -1) @ v


def last_token(x):
    T = x.shape[1]
    return x[:, T]


def scores_of(q, k):
    return q @ k


class Heads(torch.nn.Module):
    def __init__(self, d_model, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.proj = torch.nn.Linear(d_model, d_model)
        self.secret = torch.full((3,), 42.0)

    def forward(self, x):
        B, T, D = x.shape
        h = self.proj(x) * self.secret[0]
        return h.view(B, T, self.n_heads, D // (self.n_heads + 1))


def helper(x):
    return x.sum() + undefined_name


def outer(x):
    return helper(x)
'''


@pytest.fixture(scope="module")
def learner(tmp_path_factory):
    path = tmp_path_factory.mktemp("learner") / "attention.py"
    path.write_text(LEARNER)
    spec = importlib.util.spec_from_file_location("crash_learner", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, str(path)


def _site(learner, call):
    module, path = learner
    with pytest.raises(BaseException) as caught:
        call(module)
    return crash_site(caught.value, path)


def test_a_wrong_unsqueeze_names_the_shapes_and_the_pair_that_does_not_broadcast(learner):
    site = _site(learner, lambda m: m.attention(torch.randn(2, 4, 8), torch.randn(2, 4, 8), torch.randn(2, 4, 8),
                                                torch.ones(4, 4, dtype=torch.bool)))
    assert site["line"] == 8 and site["function"] == "attention"
    assert {"name": "mask", "shape": [4, 4], "dtype": "bool", "device": "cpu"} in site["tensors"]
    assert {"name": "scores", "shape": [2, 4, 4], "dtype": "float32", "device": "cpu"} in site["tensors"]
    assert {"text": "mask.unsqueeze(1)", "shape": [4, 1, 4], "dtype": "bool"} in site["expressions"]
    assert site["conflict"] == {"op": "masked_fill", "left": "scores", "left_shape": [2, 4, 4],
                                "right": "mask.unsqueeze(1) == 0", "right_shape": [4, 1, 4]}
    assert site["parameters"] == ["q", "k", "v", "mask"]


def test_an_index_out_of_range_names_the_indexed_tensor(learner):
    site = _site(learner, lambda m: m.last_token(torch.randn(2, 3)))
    assert site["line"] == 14
    assert site["tensors"] == [{"name": "x", "shape": [2, 3], "dtype": "float32", "device": "cpu"}]
    assert site["conflict"]["op"] == "[]" and site["conflict"]["left_shape"] == [2, 3]


def test_a_matmul_that_does_not_fit(learner):
    site = _site(learner, lambda m: m.scores_of(torch.randn(2, 4, 8), torch.randn(2, 4, 8)))
    assert site["conflict"] == {"op": "@", "left": "q", "left_shape": [2, 4, 8], "right": "k", "right_shape": [2, 4, 8]}


def test_module_attributes_are_read_without_running_learner_code_and_no_value_leaves(learner):
    site = _site(learner, lambda m: m.Heads(8, 2)(torch.randn(2, 5, 8)))
    assert site["function"] == "forward" and site["parameters"] == ["x"]
    assert site["conflict"]["op"] == "view" and site["conflict"]["left_shape"] == [2, 5, 8]
    text = json.dumps(site)
    assert "42" not in text  # a tensor's values never leave, only shapes, dtypes and devices


def test_the_innermost_learner_frame_is_the_one_described(learner):
    site = _site(learner, lambda m: m.outer(torch.randn(3)))
    assert site["function"] == "helper" and site["parameters"] == ["x"]
    site_outer = site
    assert site_outer["tensors"] == [{"name": "x", "shape": [3], "dtype": "float32", "device": "cpu"}]


def test_an_error_outside_the_learners_file_has_no_site(tmp_path):
    try:
        torch.zeros(2) + torch.zeros(3)
    except RuntimeError as error:
        assert crash_site(error, str(tmp_path / "attention.py")) is None
