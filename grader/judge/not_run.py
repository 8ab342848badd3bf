"""Tests the judge does not run, and why, in the learner's terms.

Waiting out a call that never returns costs a whole call limit (20 s and
more), and a loop in ``forward`` makes every test that calls ``forward`` wait
it out again: minutes of silence for one mistake. So the unit of "it did not
return" is the learner's callable: once a call to ``SelfAttention.forward``
(or ``scaled_dot_product_attention``, or a constructor) has timed out, later
calls to that same callable in the run are not made; their tests end at once
as errors that name the callable and the test where it hung. Tests that never
call it still run. The whole run has a budget too (``Budgets.run_timeout_s``):
once it is spent, the tests after are not started.

Such tests are errors, never passes: nothing was checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from grader.judge.errors import WorkerProblem


class NotRun(WorkerProblem):
    """A test (or the rest of one) that was not run; the message says why."""


class RunBudgetSpent(NotRun):
    """The whole run's time budget was spent before this test (or this call) could start."""


def callable_of(what: str) -> str:
    """The learner callable a request describes: ``"SelfAttention.forward"`` for itself,
    ``"scaled_dot_product_attention"`` for ``"scaled_dot_product_attention(...)"``, the class for a
    constructor call ``"SelfAttention(d_model=8)"``."""
    name = what.split("(", 1)[0].split(" ", 1)[0].strip()
    return name or what


@dataclass
class HungCallables:
    """The callables of this run that did not return in time, and where each first hung."""

    current_test: str = ""  # set by the results plugin as each test starts
    _hung: dict[str, tuple[float, str]] = field(default_factory=dict)  # callable -> (seconds waited, test)

    def record(self, what: str, seconds: float) -> None:
        self._hung.setdefault(callable_of(what), (seconds, self.current_test))

    def refuse(self, what: str) -> None:
        """Raise ``NotRun`` if ``what`` calls a callable that already hung in this run."""
        name = callable_of(what)
        if name not in self._hung:
            return
        seconds, test = self._hung[name]
        where = f" in the test “{test}”" if test else ""
        raise NotRun(f"Not run: your `{name}` did not return within {seconds:g} s{where}, "
                     "so the tests that call it were not run.")

    def __bool__(self) -> bool:
        return bool(self._hung)


def budget_spent(run_timeout_s: float) -> RunBudgetSpent:
    return RunBudgetSpent(f"Not run: the whole run's time budget ({run_timeout_s:g} s) was spent before this test "
                          "started.")
