"""What the grader is asked and what it raises: the typed requests of ``grader.api``.

Plain frozen dataclasses, torch-free, imported by the entry functions
(``grader.api``) and by the engine that serves them, so that the engine never
imports the entry points. The harness's data reaches the grader only through
the small ``TaskData`` protocol, so the grader never imports ``milestones``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from grader.errors import GraderError
from grader.results import RunResult
from grader.source import LearnerSource

Isolation = Literal["strong", "best", "off"]
"""``strong``: the bubblewrap sandbox or refuse; ``best``: bubblewrap where it runs, else the fallback
sandbox (namespaces, Landlock, rlimits), recorded in the results; ``off``: no sandbox (the grader's own tests)."""


class TaskData(Protocol):
    """What hidden tests and training read of a harness task (``milestones.tasks.PreparedTask`` fits)."""

    name: str
    spec: dict[str, Any]
    inputs: dict[str, Any]  # split -> token ids (N, T) or a token stream (L,)
    labels: dict[str, Any]  # split -> class ids (N,), classification only
    label_names: list[str]
    fingerprint: str

    def to_worker_tensors(self, splits: Sequence[str] = ..., *, labels: bool = ...) -> dict[str, Any]: ...

    def decode(self, ids: Any, *, skip_special: bool = ...) -> str: ...


@dataclass(frozen=True)
class BuiltinPolicy:
    """Which PyTorch built-ins a run records (``tracked``) and refuses (``forbidden``)."""

    tracked: tuple[str, ...] = ()
    forbidden: tuple[str, ...] = ()
    why: str = ""  # the milestone's reason for ``forbidden``, when it is not "write it yourself"
    allowed_imports: tuple[str, ...] = ()  # modules beyond grader.judge.allowlist.DEFAULT_IMPORTS


@dataclass(frozen=True)
class Budgets:
    """Limits of one run; time limits are wall-clock safety nets for calls into learner code."""

    call_timeout_s: float = 30.0
    run_timeout_s: float = 300.0  # a total: tests that would start after it are reported as not run
    memory_mb: int = 6144


@dataclass(frozen=True)
class TrainedModel:
    """A trained checkpoint as the hidden tests see it: weights and the training log (a claim)."""

    state: Mapping[str, Any]  # name -> tensor, as loaded from safetensors
    training_log: tuple[dict[str, Any], ...] = ()


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
    spec: dict[str, Any]
    function: str
    args: tuple[Any, ...] = ()
    state: Mapping[str, Any] | None = None
    seed: int = 0
    budgets: Budgets = field(default_factory=Budgets)
    isolation: Isolation = "best"
    source: LearnerSource | None = None  # the file's bytes, read once; None: the run reads ``learner_file`` once


class Interrupted(GraderError):
    """The user stopped a run (Ctrl-C); ``result`` holds what had finished."""

    def __init__(self, result: RunResult):
        super().__init__("interrupted")
        self.result = result


class ModelCallFailed(GraderError):
    """A step of ``call_with_model`` failed in the learner's code; ``step`` names it."""

    def __init__(self, step: str, message: str, hint: str = ""):
        super().__init__(f"{step}: {message}")
        self.step, self.message, self.hint = step, message, hint


class IsolationUnavailable(GraderError):
    """``isolation="strong"`` was asked for on a machine where the sandbox cannot start."""
