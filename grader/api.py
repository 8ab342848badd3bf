"""The grader's one entry point: typed requests in, typed results out.

Everything the rest of the harness asks of the grader goes through here:
``grade`` runs a milestone's hidden tests on a learner's file, ``train`` runs a
learner's training loop, ``call_with_model`` calls one learner function on
their model (for drawings), ``isolation`` says what this machine can isolate.

Importing this module does not import torch (``challenge --help`` and the
bookkeeping commands stay fast); the engine is loaded when work starts. The
requests and errors are defined in ``grader.requests`` (the engine imports
them from there, never this module) and named here for the callers.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from grader.requests import (Budgets, BuiltinPolicy, GradeRequest, Interrupted, Isolation, IsolationUnavailable,
                             ModelCallFailed, ModelCallRequest, TaskData, TrainedModel, TrainRequest)
from grader.results import RunResult, TrainOutcome
from grader.source import LearnerSource

if TYPE_CHECKING:
    from grader.engine.host import SandboxHost
    from grader.engine.sandbox import SandboxMode
    from grader.progress import TestProgress

__all__ = ["Budgets", "BuiltinPolicy", "GradeRequest", "Interrupted", "Isolation", "IsolationUnavailable", "LearnerSource",
           "ModelCallFailed", "ModelCallRequest", "RunResult", "TaskData", "TrainOutcome", "TrainRequest", "TrainedModel",
           "WarmGrader", "call_with_model", "grade", "isolation", "train"]

def grade(request: GradeRequest, *, on_progress: Callable[[TestProgress], None] | None = None) -> RunResult:
    """Run the milestone's hidden tests against the learner's file; raises ``Interrupted`` on Ctrl-C.
    ``on_progress`` is called in this process as each hidden test starts."""
    with WarmGrader(isolation=request.isolation, threads=request.threads, device=request.device) as grader:
        return grader.grade(request, on_progress=on_progress)  # the sandbox imports torch while this process does


class WarmGrader:
    """A sandbox kept warm across runs (``challenge watch``): each ``grade`` forks a fresh worker from it
    instead of starting Python and torch again. The judge's own imports stay loaded in this process."""

    def __init__(self, *, isolation: Isolation = "best", threads: int = 2, device: str = "cpu"):
        self.isolation, self.threads, self.device = isolation, threads, device
        self._host: SandboxHost | None = None

    def start(self) -> "WarmGrader":
        """Start the sandbox now (it imports torch in the background)."""
        from grader.engine.host import SandboxHost

        if self._host is None or not self._host.alive:
            if self._host is not None:
                self._host.close()
            self._host = SandboxHost(isolation=self.isolation, threads=self.threads,
                                     devices=("cuda",) if self.device.startswith("cuda") else ()).start()
        return self

    def grade(self, request: GradeRequest, *,
              on_progress: Callable[[TestProgress], None] | None = None) -> RunResult:
        from dataclasses import replace

        from grader.engine.runner import run_milestone

        self.start()
        return run_milestone(replace(request, isolation=self.isolation, threads=self.threads), host=self._host,
                             on_progress=on_progress)

    def close(self) -> None:
        if self._host is not None:
            self._host.close()
            self._host = None

    def __enter__(self) -> "WarmGrader":
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def train(request: TrainRequest, *, on_progress: Callable[[dict[str, Any]], None] | None = None,
          on_stop_requested: Callable[[], None] | None = None) -> TrainOutcome:
    """Run the learner's ``train(model, task)`` in the sandbox; the model comes back whatever happens."""
    from grader.engine.training import run_training

    return run_training(request, on_progress=on_progress, on_stop_requested=on_stop_requested)


def call_with_model(request: ModelCallRequest) -> Any:
    """The value the learner's function returns (tensors and plain values only); raises ``ModelCallFailed``."""
    from grader.engine.model_call import run_model_call

    return run_model_call(request)


def isolation() -> "SandboxMode":
    """What the sandbox can enforce on this machine, without starting a worker."""
    from grader.engine.sandbox import available_mode

    return available_mode()
