"""The worker's record of what ran fails closed (issue 24): popped, disabled or bypassed, it says so; left alone,
it never does. The record is run here directly, with the hiding code the source check refuses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.overrides import _get_current_function_mode_stack, _pop_mode
from torch.utils._python_dispatch import _disable_current_modes

from grader.judge.families import EVIDENCE_SEEN, RECORD_OFF
from grader.judge.rules import record_operators
from grader.worker.record import BuiltinRecord

SDPA = "torch.nn.functional.scaled_dot_product_attention"


def _record() -> BuiltinRecord:
    return BuiltinRecord([SDPA], record_operators([SDPA]))


def _run(fn) -> list[str]:
    """What the record says about ``fn``; then undo what ``fn`` left behind (its return value), for the next test."""
    record = _record()
    undo = []
    with record.watching():
        undo.append(fn())
    if callable(undo[0]):
        undo[0]()
    assert torch._C._is_torch_function_enabled() and not _get_current_function_mode_stack()
    return record.take()


Q = torch.randn(2, 3, 4)


def test_plain_attention_is_seen_with_its_evidence():
    assert _run(lambda: torch.softmax(Q @ Q.mT, -1) @ Q) == [EVIDENCE_SEEN]


def test_the_builtin_is_seen():
    assert _run(lambda: F.scaled_dot_product_attention(Q, Q, Q)) == [SDPA, EVIDENCE_SEEN]


def _disable_both():
    with _disable_current_modes(), torch._C.DisableTorchFunction():
        F.scaled_dot_product_attention(Q, Q, Q)


def _leave_disabled():
    guard = torch._C.DisableTorchFunction()
    guard.__enter__()
    return lambda: guard.__exit__(None, None, None)


def _pop_functions():
    _pop_mode()


def _push_another():
    device = torch.device("cpu")
    device.__enter__()
    return lambda: device.__exit__(None, None, None)


HIDING = {"both modes disabled for the call": _disable_both, "torch functions left disabled": _leave_disabled,
          "the function mode popped": _pop_functions, "a mode pushed above the record": _push_another}


@pytest.mark.parametrize("case", list(HIDING))
def test_a_switched_off_record_says_so(case):
    seen = _run(HIDING[case])
    assert RECORD_OFF in seen or EVIDENCE_SEEN not in seen, seen
    assert SDPA not in seen


def test_a_call_that_raises_is_still_checked():
    def boom():
        raise ValueError("learner bug")

    record = _record()
    with pytest.raises(ValueError), record.watching():
        boom()
    assert RECORD_OFF not in record.take()
