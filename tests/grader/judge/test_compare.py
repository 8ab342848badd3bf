"""Teaching comparisons: a right answer passes, and each kind of wrong answer fails
with a message that says what is wrong (and, where known, which mistake)."""

from __future__ import annotations

import math

import pytest
import torch

from grader.judge.compare import (F32, F64, GradingFailure, Mistake, check_tensor, check_unchanged, close_enough,
                            describe_value)
from grader.protocol import Handle, Unsupported


@pytest.fixture
def expected() -> torch.Tensor:
    return torch.arange(24, dtype=torch.float64).reshape(2, 3, 4) / 7


def failure(got, expected, **kwargs) -> GradingFailure:
    options = {"what": "attention", "case": "a causal mask", **F64} | kwargs
    with pytest.raises(GradingFailure) as caught:
        check_tensor(got, expected, **options)
    assert caught.value.message.startswith("attention for a causal mask: ")
    return caught.value


def test_equal_and_nearly_equal_tensors_pass(expected):
    check_tensor(expected.clone(), expected, what="f", case="c", **F64)
    check_tensor(expected + 1e-9, expected, what="f", case="c", **F64)
    check_tensor(expected.float(), expected.float(), what="f", case="c", **F32)
    check_tensor(expected.float(), expected, what="f", case="c", check_dtype=False, **F32)
    inf = torch.tensor([math.inf, -math.inf, 0.0])
    check_tensor(inf.clone(), inf, what="f", case="c", **F64)  # matching infinities are equal


@pytest.mark.parametrize("got, words", [
    ([1.0, 2.0], "a list of 2 items"), ((torch.ones(1),), "a tuple of 1 item"), (None, "None"),
    (3.5, "a value of type float"),
    (Unsupported("AlwaysEqual"), "an object of type AlwaysEqual"),
    (Unsupported("Sneaky (a Tensor subclass)"), "an object of type Sneaky (a Tensor subclass)"),
    (Handle(3), "an nn.Module"),
])
def test_not_a_tensor(expected, got, words):
    error = failure(got, expected)
    assert error.message.endswith(f"expected a torch.Tensor of shape (2, 3, 4), got {words}.")
    assert "plain torch.Tensor" in error.hint
    assert describe_value(got) == words


def test_swapped_axes_are_named(expected):
    error = failure(expected.transpose(-2, -1), expected)
    assert "expected shape (2, 3, 4), got (2, 4, 3)." in error.message
    assert "swapped" in error.hint and "transpose" in error.hint


def test_other_shape_mismatch(expected):
    error = failure(expected[..., :2], expected)
    assert "expected shape (2, 3, 4), got (2, 3, 2)." in error.message
    assert "swapped" not in error.hint and "reshape" in error.hint


def test_dtype_mismatch(expected):
    error = failure(expected.float(), expected)
    assert "expected dtype torch.float64, got torch.float32." in error.message
    assert "dtype=x.dtype" in error.hint


def test_nan_is_counted_and_located(expected):
    got = expected.clone()
    got[1, 2, :] = math.nan
    error = failure(got, expected)
    assert "values differ." in error.message
    assert "NaN in 4 of 24 elements (first at [1, 2, 0])." in error.message
    assert "softmax over a row that is all -inf" in error.hint


def test_inf_is_counted(expected):
    got = expected.clone()
    got[0, 0, 0] = math.inf
    error = failure(got, expected)
    assert "inf in 1 of 24 elements." in error.message
    assert "max abs diff inf at [0, 0, 0]" in error.message


def test_max_abs_diff_with_index_and_fraction(expected):
    got = expected.clone()
    got[1, 0, 3] += 0.5
    got[0, 2, 1] -= 0.01
    error = failure(got, expected)
    assert f"max abs diff 0.5 at [1, 0, 3] (expected {float(expected[1, 0, 3]):.6g}, got {float(got[1, 0, 3]):.6g})" \
        in error.message
    assert "8.3% of 24 elements outside atol=1e-06, rtol=1e-05." in error.message


def test_the_worst_element_is_never_a_matching_infinity():
    expected = torch.tensor([math.inf, 1.0, 2.0], dtype=torch.float64)
    error = failure(torch.tensor([math.inf, 1.0, 2.5], dtype=torch.float64), expected)
    assert "max abs diff 0.5 at [2]" in error.message


def test_a_known_mistake_is_named(expected):
    wrong = expected * 2
    mistakes = [Mistake("forgot the 1/sqrt(d) scaling", lambda: expected * 3),
                Mistake("raises for these shapes", lambda: (_ for _ in ()).throw(RuntimeError("no"))),
                Mistake("doubled the output", lambda: expected * 2)]
    error = failure(wrong, expected, mistakes=mistakes)
    assert "Your output is exactly what a known mistake produces (see the hint)." in error.message
    assert error.hint == "doubled the output"


def test_no_mistake_matches_then_the_test_hint_is_given(expected):
    error = failure(expected + 1, expected, mistakes=[Mistake("doubled", lambda: expected * 2)],
                    hint="look at the mask")
    assert "known mistake" not in error.message and error.hint == "look at the mask"


def test_mistakes_are_not_evaluated_when_the_answer_is_right(expected):
    def never():
        raise AssertionError("a mistake was computed for a right answer")

    check_tensor(expected.clone(), expected, what="f", case="c", mistakes=[Mistake("x", never)], **F64)


def test_comparisons_do_not_trust_the_tensor_they_are_given(expected, monkeypatch):
    """Judge-side comparisons use torch functions on plain tensors: a learner's lying __eq__ never runs."""
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    with pytest.raises(GradingFailure):
        check_tensor(Unsupported("Liar (a Tensor subclass)"), expected, what="f", case="c", **F64)
    assert not close_enough(expected + 1, expected, **F64)
    assert not close_enough(expected.mT, expected, **F64)
    assert close_enough(expected.float(), expected, **F32)


def test_check_unchanged():
    before = torch.ones(3)
    check_unchanged(before, before.clone(), what="Input q")
    for after in (before + 1, Unsupported("x"), before[:2]):
        with pytest.raises(GradingFailure, match="Input q was modified in place"):
            check_unchanged(before, after, what="Input q")
