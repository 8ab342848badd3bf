"""The grader's one entry point: typed requests in, typed results out.

Everything the rest of the harness asks of the grader goes through here:
``grade`` runs a milestone's hidden tests on a learner's file, ``train`` runs a
learner's training loop, ``call_with_model`` calls one learner function on
their model (for drawings), ``isolation`` says what this machine can isolate.

Importing this module does not import torch (``challenge --help`` and the
bookkeeping commands stay fast); the engine is loaded when work starts.
Requests carry plain values and the harness's data only through the small
``TaskData`` protocol, so the grader never imports ``milestones``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from grader.results import RunResult, TrainOutcome
from grader.source import LearnerSource

if TYPE_CHECKING:
    from grader.engine.sandbox import SandboxMode

Isolation = Literal["strong", "best", "off"]
"""``strong``: the bubblewrap sandbox or refuse; ``best``: bubblewrap where it runs, else the fallback
sandbox (namespaces, Landlock, rlimits), recorded in the results; ``off``: no sandbox (the grader's own tests)."""


class TaskData(Protocol):
    """What hidden tests and training read of a harness task (``milestones.tasks.PreparedTask`` fits)."""

    name: str
    spec: dict
    inputs: dict  # split -> token ids (N, T) or a token stream (L,)
    labels: dict  # split -> class ids (N,), classification only
    label_names: list
    fingerprint: str

    def to_worker_tensors(self, splits: Sequence[str] = ..., *, labels: bool = ...) -> dict: ...

    def decode(self, ids: Any, *, skip_special: bool = ...) -> str: ...


@dataclass(frozen=True)
class BuiltinPolicy:
    """Which PyTorch built-ins a run records (``tracked``) and refuses (``forbidden``)."""

    tracked: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    why: str = ""  # the milestone's reason for ``forbidden``, when it is not "write it yourself"


@dataclass(frozen=True)
class Budgets:
    """Limits of one run; time limits are wall-clock safety nets for calls into learner code."""

    call_timeout_s: float = 30.0
    run_timeout_s: float = 300.0
    memory_mb: int = 6144


@dataclass(frozen=True)
class TrainedModel:
    """A trained checkpoint as the hidden tests see it: weights and the training log (a claim)."""

    state: Mapping[str, Any]  # name -> tensor, as loaded from safetensors
    training_log: tuple[dict, ...] = ()


@dataclass(frozen=True)
class GradeRequest:
    milestone_id: str
    folder: str  # grader/hidden/<folder>
    learner_file: Path
    policy: BuiltinPolicy = field(default_factory=BuiltinPolicy)
    budgets: Budgets = field(default_factory=Budgets)
    seed: int | None = None  # None: fresh shapes and values
    device: str = "cpu"
    threads: int = 2
    isolation: Isolation = "best"
    task: TaskData | None = None  # for milestones whose tests read harness data
    trained: TrainedModel | None = None  # for training milestones
    source: LearnerSource | None = None  # the file's bytes, read once; None: the run reads ``learner_file`` once


@dataclass(frozen=True)
class TrainRequest:
    milestone_id: str
    learner_file: Path
    task: TaskData
    budget_s: float  # CPU seconds of the worker, at ``threads`` threads
    policy: BuiltinPolicy = field(default_factory=BuiltinPolicy)
    memory_mb: int = 6144
    device: str = "cpu"
    seed: int = 0
    # 2, measured (bench/bench_budgets.py): the references' tokens per CPU second stay within 5% from an idle to a
    # heavily loaded machine (1 thread: 7-13% fewer when loaded), and a run takes ~1.4x less wall time than on 1.
    threads: int = 2
    isolation: Isolation = "best"
    source: LearnerSource | None = None  # the file's bytes, read once; None: the run reads ``learner_file`` once


@dataclass(frozen=True)
class ModelCallRequest:
    """``function(build_model(spec) [+ state], *args)`` in the sandbox, e.g. ``attention_patterns``."""

    learner_file: Path
    spec: dict
    function: str
    args: tuple = ()
    state: Mapping[str, Any] | None = None
    seed: int = 0
    budgets: Budgets = field(default_factory=Budgets)
    isolation: Isolation = "best"
    source: LearnerSource | None = None  # the file's bytes, read once; None: the run reads ``learner_file`` once


class Interrupted(Exception):
    """The user stopped a run (Ctrl-C); ``result`` holds what had finished."""

    def __init__(self, result: RunResult):
        super().__init__("interrupted")
        self.result = result


class ModelCallFailed(Exception):
    """A step of ``call_with_model`` failed in the learner's code; ``step`` names it."""

    def __init__(self, step: str, message: str, hint: str = ""):
        super().__init__(f"{step}: {message}")
        self.step, self.message, self.hint = step, message, hint


class IsolationUnavailable(Exception):
    """``isolation="strong"`` was asked for on a machine where the sandbox cannot start."""


def grade(request: GradeRequest) -> RunResult:
    """Run the milestone's hidden tests against the learner's file; raises ``Interrupted`` on Ctrl-C."""
    with WarmGrader(isolation=request.isolation, threads=request.threads, device=request.device) as grader:
        return grader.grade(request)  # the sandbox imports torch while this process does


class WarmGrader:
    """A sandbox kept warm across runs (``challenge watch``): each ``grade`` forks a fresh worker from it
    instead of starting Python and torch again. The judge's own imports stay loaded in this process."""

    def __init__(self, *, isolation: Isolation = "best", threads: int = 2, device: str = "cpu"):
        self.isolation, self.threads, self.device = isolation, threads, device
        self._host = None

    def start(self) -> "WarmGrader":
        """Start the sandbox now (it imports torch in the background)."""
        from grader.engine.host import SandboxHost

        if self._host is None or not self._host.alive:
            if self._host is not None:
                self._host.close()
            self._host = SandboxHost(isolation=self.isolation, threads=self.threads,
                                     devices=("cuda",) if self.device.startswith("cuda") else ()).start()
        return self

    def grade(self, request: GradeRequest) -> RunResult:
        from dataclasses import replace

        from grader.engine.runner import run_milestone

        self.start()
        return run_milestone(replace(request, isolation=self.isolation, threads=self.threads), host=self._host)

    def close(self) -> None:
        if self._host is not None:
            self._host.close()
            self._host = None

    def __enter__(self) -> "WarmGrader":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def train(request: TrainRequest, *, on_progress: Callable[[dict], None] | None = None,
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
