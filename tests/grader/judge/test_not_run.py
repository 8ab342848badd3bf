"""A learner callable that hung is not called again in the run; the message names it and where it hung."""

import pytest

from grader.judge.not_run import HungCallables, NotRun, RunBudgetSpent, budget_spent, callable_of


@pytest.mark.parametrize("what, name", [
    ("SelfAttention.forward", "SelfAttention.forward"),
    ("scaled_dot_product_attention(...)", "scaled_dot_product_attention"),
    ("SelfAttention(8, bias=True)", "SelfAttention"),
    ("TransformerBlock.forward against nn.TransformerEncoderLayer", "TransformerBlock.forward"),
    ("build_model({'d_model': 8})", "build_model"),
])
def test_the_callable_is_named_from_the_request(what, name):
    assert callable_of(what) == name


def test_a_hung_callable_is_refused_with_where_it_hung_and_others_still_run():
    hung = HungCallables()
    hung.current_test = "SelfAttention equals nn.MultiheadAttention [bias-float32]"
    hung.refuse("SelfAttention.forward")  # nothing hung yet
    hung.record("SelfAttention.forward", 20.0)
    hung.current_test = "a later test"
    hung.record("SelfAttention.forward", 20.0)  # the first place it hung is the one named
    with pytest.raises(NotRun) as refused:
        hung.refuse("SelfAttention.forward")
    assert str(refused.value) == ("Not run: your `SelfAttention.forward` did not return within 20 s in the test "
                                  "“SelfAttention equals nn.MultiheadAttention [bias-float32]”, so the tests that "
                                  "call it were not run.")
    hung.refuse("SelfAttention(8)")  # the constructor did return
    hung.refuse("scaled_dot_product_attention(...)")


def test_not_run_is_an_error_of_its_own_kind_never_a_pass():
    from grader.engine.plugin import classify

    status, message, hint = classify(budget_spent(180))
    assert status == "error" and message.startswith("Not run: the whole run's time budget (180 s)")
    assert isinstance(budget_spent(180), RunBudgetSpent) and hint
    hung = HungCallables()
    hung.record("f(...)", 4)
    with pytest.raises(NotRun) as refused:
        hung.refuse("f(1, 2)")
    assert classify(refused.value)[0] == "error"
