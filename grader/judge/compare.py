"""Tensor comparisons that teach.

A failed comparison says which input, the expected and actual shape and dtype,
NaN/inf counts, the largest difference and where, the fraction of elements
off, and, where the wrong output matches a known mistake, the mistake by name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from grader.errors import GraderError
from grader.protocol import Handle, Unsupported

F64 = {"atol": 1e-6, "rtol": 1e-5}
F32 = {"atol": 1e-4, "rtol": 1e-3}


class GradingFailure(GraderError, AssertionError):
    """A test found learner output wrong; ``hint`` names the likely mistake.

    ``names``: the ids (``grader.judge.diagnosis.catalogue``) of the mistakes the hint
    names, so that a hint is dropped when the probes rule its cause out;
    ``diagnosis``: what the probes showed (``Diagnosis`` fields), copied into the result.
    """

    def __init__(self, message: str, hint: str = "", *, names: Iterable[str] = ()):
        super().__init__(message)
        self.message, self.hint = message, hint
        self.names = frozenset(names)
        self.diagnosis: dict[str, str] | None = None


@dataclass(frozen=True)
class Mistake:
    """A known wrong solution: what it would output, and what to tell the learner."""

    hint: str
    output: Callable[[], torch.Tensor]


def _shape(t: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in t.shape) + ")"


def _index(flat: int, shape: torch.Size) -> str:
    index = []
    for size in reversed(shape):
        index.append(flat % size)
        flat //= size
    return "[" + ", ".join(str(i) for i in reversed(index)) + "]"


def describe_value(value) -> str:
    """What the learner returned, in words ("a AlwaysEqual" and "a NoneType" read badly)."""
    if isinstance(value, Unsupported):
        return f"an object of type {value.type_name}"
    if isinstance(value, Handle):
        return "an nn.Module"
    if value is None:
        return "None"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} item{'s' if len(value) != 1 else ''}"
    return f"a value of type {type(value).__name__}"


def close_enough(got: torch.Tensor, expected: torch.Tensor, atol: float, rtol: float) -> bool:
    if got.shape != expected.shape:
        return False
    g, e = got.to(torch.float64), expected.to(torch.float64)
    return bool(torch.isclose(g, e, atol=atol, rtol=rtol, equal_nan=False).all())


def check_tensor(got, expected: torch.Tensor, *, what: str, case: str, atol: float, rtol: float,
                 mistakes: Iterable[Mistake] = (), hint: str = "", check_dtype: bool = True,
                 names: Iterable[str] = ()) -> None:
    """Raise GradingFailure unless ``got`` is a tensor equal to ``expected`` within tolerance;
    ``names``: the mistake ids ``hint`` names (see GradingFailure)."""
    where = f"{what} for {case}"
    if not isinstance(got, torch.Tensor):
        raise GradingFailure(f"{where}: expected a torch.Tensor of shape {_shape(expected)}, got {describe_value(got)}.",
                             "Return a plain torch.Tensor (not a tuple, list or custom object).")
    if got.shape != expected.shape:
        swapped = sorted(got.shape) == sorted(expected.shape)
        raise GradingFailure(
            f"{where}: expected shape {_shape(expected)}, got {_shape(got)}.",
            hint or ("The same sizes in another order: are two axes swapped (a missing or extra transpose)?"
                     if swapped else "Check each reshape and which axis you reduce over."))
    if check_dtype and got.dtype != expected.dtype:
        raise GradingFailure(
            f"{where}: expected dtype {expected.dtype}, got {got.dtype}.",
            "Some tensor inside your code is created with a fixed dtype: create it from the input "
            "(x.new_zeros, torch.ones(..., dtype=x.dtype)) or keep the input's dtype.")
    g, e = got.to(torch.float64), expected.to(torch.float64)
    lines = [f"{where}: values differ."]
    bad_nan, bad_inf = torch.isnan(g) & ~torch.isnan(e), torch.isinf(g) & ~torch.isinf(e)
    if bad_nan.any():
        first = int(bad_nan.flatten().nonzero()[0])
        lines.append(f"  NaN in {int(bad_nan.sum())} of {g.numel()} elements (first at {_index(first, g.shape)}).")
    if bad_inf.any():
        lines.append(f"  inf in {int(bad_inf.sum())} of {g.numel()} elements.")
    ok = torch.isclose(g, e, atol=atol, rtol=rtol)
    if bool(ok.all()):
        return
    diff = (g - e).abs().nan_to_num(nan=float("inf"), posinf=float("inf"))  # default posinf: 1.8e+308
    diff = diff.masked_fill(ok, 0.0)  # inf - inf is NaN: never point at a matching inf as the worst element
    worst = int(diff.flatten().argmax())
    lines.append(f"  max abs diff {float(diff.flatten()[worst]):.3g} at {_index(worst, g.shape)} "
                 f"(expected {float(e.flatten()[worst]):.6g}, got {float(g.flatten()[worst]):.6g}); "
                 f"{100 * float((~ok).float().mean()):.1f}% of {g.numel()} elements outside atol={atol:g}, rtol={rtol:g}.")
    likely = next((m.hint for m in mistakes if _matches(g, m)), "")
    if likely:
        lines.append("  Your output is exactly what a known mistake produces (see the hint).")
        raise GradingFailure("\n".join(lines), likely)
    if bad_nan.any():
        raise GradingFailure("\n".join(lines), "NaN usually comes from a softmax over a row that is all -inf (every "
                             "key masked), from exp overflowing, or from 0 * inf.",
                             names={"empty-rows-nan", "softmax-without-max"})
    raise GradingFailure("\n".join(lines), hint, names=names)


def _matches(got: torch.Tensor, mistake: Mistake) -> bool:
    try:
        wrong = mistake.output()
    except Exception:  # noqa: BLE001 - a diagnosis that does not apply to these shapes
        return False
    return wrong.shape == got.shape and bool(torch.isclose(got, wrong.to(torch.float64), atol=1e-5, rtol=1e-4).all())


def check_unchanged(before: torch.Tensor, after, *, what: str) -> None:
    if not isinstance(after, torch.Tensor) or not torch.equal(before, after):
        raise GradingFailure(f"{what} was modified in place by your code.",
                             "Use out-of-place ops (x = x + y, masked_fill without _) on inputs you were given.")
