"""The pytest plugin that runs hidden tests against a ``LearnerSession`` and
collects one ``TestResult`` per test, in file order.

Failures are classified from the exception itself (not from parsed text):
``GradingFailure`` is a wrong answer (fail); a learner exception, crash or
timeout is an error of the learner's code; anything else is a bug in the
hidden test and says so. (The built-in rule is a result of its own, decided by
``grader.engine.runner`` after the tests.)
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable

import pytest
import torch

from grader.judge.compare import GradingFailure
from grader.judge.crash_site import render
from grader.judge.errors import LearnerException, MissingSymbol, WorkerCrashed, WorkerProblem, WorkerTimeout
from grader.judge.not_run import NotRun, RunBudgetSpent, budget_spent
from grader.progress import TestProgress
from grader.results import TestResult
from grader.judge.session import LearnerSession


def _readable_name(item: pytest.Item) -> str:
    doc = (getattr(item.function, "__doc__", None) or "").strip().splitlines()
    base = doc[0].rstrip(".") if doc else item.originalname.removeprefix("test_").replace("_", " ")
    callspec = getattr(item, "callspec", None)
    return f"{base} [{callspec.id}]" if callspec else base


def classify(error: BaseException) -> tuple[str, str, str]:
    """(status, message, hint) for an exception raised by a test."""
    if isinstance(error, GradingFailure):
        return "fail", error.message, error.hint
    if isinstance(error, MissingSymbol):
        return "error", f"{error.name} is missing from your file.", \
            "Check the name and signature in README.md: the tests look it up by that name."
    if isinstance(error, LearnerException):
        message = f"Your code raised {error.message}"
        if error.traceback:
            message += f"\n{error.traceback}"
        if error.site is not None:
            message += "\n" + render(error.site, file_name=error.file_name or "your file", call=error.call,
                                      shown=error.traceback)
        hint = ""
        if "NotImplementedError" in error.message or error.type_name == "NotImplementedError":
            hint = "This part is still the stub: fill in the TODO."
        elif error.type_name == "TypeError" and ("argument" in error.message):
            hint = "Check the signature against README.md: argument names and order."
        elif error.site is not None and error.site.conflict is not None:
            hint = f"Line {error.site.line}: check the shapes above against the README's (the test's inputs are " \
                   "as it describes them)."
        elif error.type_name == "RuntimeError" and ("size" in error.message or "shape" in error.message):
            hint = "A shape mismatch: print the shape of every intermediate tensor."
        elif error.type_name == "MemoryError" or "can't allocate memory" in error.message:
            hint = "The sandbox limits memory (milestone.yaml: grading.memory_mb); something allocates far too much."
        elif error.type_name in ("PermissionError", "OSError") and "ermission" in error.message:
            hint = ("The sandbox allows no network and no files outside its scratch folder: "
                    "your code must not need either.")
        elif error.type_name == "SystemExit":
            hint = "Don't exit the process from library code: raise an exception instead."
        elif error.type_name == "KeyboardInterrupt":
            hint = "Your code raised KeyboardInterrupt itself: raise a specific exception instead."
        return "error", message, hint
    if isinstance(error, RunBudgetSpent):
        return "error", str(error), "The tests before it took the whole budget: fix what timed out there first."
    if isinstance(error, NotRun):
        return "error", str(error), ("Fix the test where it hung first: look for a loop that never ends, or work "
                                     "that grows much faster than the input.")
    if isinstance(error, WorkerTimeout):
        return "error", f"Time limit: {error}", \
            "Look for a loop that never ends, or work that grows much faster than the input."
    if isinstance(error, WorkerCrashed):
        text = str(error)
        return "error", text[:1].upper() + text[1:], \
            "Memory blow-ups, os._exit and native crashes end the worker; the next test gets a fresh one."
    if isinstance(error, WorkerProblem):
        return "error", str(error), ""
    return "error", f"Harness error in this hidden test ({type(error).__name__}: {error}).", \
        "This is a bug in the grader, not in your code: please report it."


class ResultsPlugin:
    """Passed to ``pytest.main(plugins=[...])``; holds the session and the results."""

    def __init__(self, session: LearnerSession, *, seed: int,
                 on_progress: Callable[[TestProgress], None] | None = None):
        self.session = session
        self.seed = seed
        self.on_progress = on_progress
        self.total = 0
        self.results: list[TestResult] = []
        self.collection_errors: list[str] = []
        self._errors: dict[str, BaseException] = {}
        self._started: dict[str, float] = {}
        self._marks: dict[str, tuple[object, bool, tuple[int, int]]] = {}  # test -> (worker, alive, output mark)

    # -- fixtures ------------------------------------------------------------
    @pytest.fixture
    def learner(self) -> LearnerSession:
        self.session.ensure_worker()
        return self.session

    @pytest.fixture
    def rng(self, request) -> torch.Generator:
        """A generator seeded from the run's seed and the test's id: shapes and values vary per run, reproducibly."""
        digest = zlib.crc32(request.node.nodeid.encode())
        return torch.Generator().manual_seed((self.seed * 1_000_003 + digest) % (2**63))

    # -- hooks ---------------------------------------------------------------
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.total = len(session.items)
        self.session.start_budget()

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._started[item.nodeid] = time.perf_counter()
        name = _readable_name(item)
        self.session.hung.current_test = name
        if self.on_progress is not None:
            self.on_progress(TestProgress(done=len(self.results), total=self.total, current=name))
        worker = self.session.worker
        alive = worker is not None and worker.alive
        self._marks[item.nodeid] = (worker, alive, worker.output_mark() if alive else (0, 0))
        if time.monotonic() >= self.session.deadline:  # the run's budget is a total: later tests do not start
            raise budget_spent(self.session.config.run_timeout_s)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call):
        outcome = yield
        report = outcome.get_result()
        if call.excinfo is not None and report.failed and item.nodeid not in self._errors:
            self._errors[item.nodeid] = call.excinfo.value

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        error = self._errors.get(item.nodeid)
        diagnosis = getattr(error, "diagnosis", None)
        if error is None:
            status, message, hint = "pass", "", ""
        else:
            status, message, hint = classify(error)
            marker = item.get_closest_marker("hint")
            if not hint and marker:
                hint = marker.args[0]
        worker = self.session.worker
        at_start, alive_at_start, mark = self._marks.get(item.nodeid, (None, False, (0, 0)))
        output = ""
        # a test that found the worker dead and started none (not run: what it calls hung before) shows none of
        # the dead worker's output; a worker started during the test shows all of its own
        if worker is not None and (worker is not at_start or alive_at_start):
            try:
                output = worker.output_since(mark if worker is at_start else (0, 0))
            except Exception:  # noqa: BLE001
                output = ""
        self.results.append(TestResult(name=_readable_name(item), status=status, message=message, hint=hint,
                                       output=output.strip(), family=item.originalname, diagnosis=diagnosis,
                                       duration_s=round(time.perf_counter() - self._started.get(item.nodeid, 0), 3)))

    def pytest_collectreport(self, report) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext[-800:]}")
