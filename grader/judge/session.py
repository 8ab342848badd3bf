"""What hidden tests talk to: the learner's code, behind the sandbox.

``LearnerSession`` owns the worker process of one run (a fresh one after a
crash or a timeout, forked from the same warm sandbox), enforces the run's
time limit, records the built-ins the worker reports, and offers a small API:
call a function, construct a module, load reference weights, run forward.
Tests never see learner objects, only handles and tensors.

What a run's tests may read besides the learner's code is typed: ``task``
(the harness's data, for milestones that use it), ``trained`` (the learner's
checkpoint and training log, for training milestones) and ``run_cache`` (a
scratch dict the tests of one run share, e.g. scores computed once).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grader.engine.host import SandboxHost
from grader.engine.sandbox import Limits
from grader.engine.worker_process import WorkerProcess
from grader.judge.crash_site import locate
from grader.judge.errors import LearnerException, WorkerTimeout, handle_of, value_of
from grader.protocol import Handle

MIN_REPLY_BYTES = 16 * 1024 * 1024


@dataclass
class SessionConfig:
    learner_file: Path
    tracked: list[str]
    limits: Limits
    call_timeout_s: float
    run_timeout_s: float
    threads: int = 2
    operators: dict[str, str] = field(default_factory=dict)  # ATen name -> the built-in it stands for


class RunTimeLimit(WorkerTimeout):
    def __init__(self, message: str):
        Exception.__init__(self, message)
        self.seconds = 0.0


class Remote:
    """A learner object living in the worker (an nn.Module)."""

    def __init__(self, session: "LearnerSession", handle: Handle, name: str):
        self.session, self.handle, self.name = session, handle, name

    def __call__(self, *args, **kwargs):
        return self.session.call(self.handle, None, args, kwargs, what=f"{self.name}.forward")

    def infer(self, *args, **kwargs):
        """forward under torch.no_grad(), as evaluation does."""
        return self.session.call(self.handle, None, args, kwargs, what=f"{self.name}.forward", no_grad=True)

    def method(self, name: str, *args, **kwargs):
        return self.session.call(self.handle, name, args, kwargs, what=f"{self.name}.{name}")

    def call_keeping_args(self, *args, **kwargs) -> tuple[Any, list[torch.Tensor]]:
        value = self.session.call(self.handle, None, args, kwargs, what=f"{self.name}.forward", return_args=True)
        return value["result"], value["args"]

    def to(self, dtype: torch.dtype) -> "Remote":
        self.session.op("to", handle=self.handle, dtype=dtype, what=f"{self.name}.to({dtype})")
        return self

    def eval(self) -> "Remote":
        self.session.op("train_mode", handle=self.handle, mode=False, what=f"{self.name}.eval()")
        return self

    def train(self) -> "Remote":
        self.session.op("train_mode", handle=self.handle, mode=True, what=f"{self.name}.train()")
        return self

    def parameters(self) -> list[tuple[str, list[int], str]]:
        return [tuple(p) for p in self.session.op("parameters", handle=self.handle, what="listing parameters")]

    def state_dict(self) -> dict[str, torch.Tensor]:
        with self.session.expecting(1 << 30):
            return self.session.op("state_dict", handle=self.handle, what=f"{self.name}.state_dict()")

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True) -> None:
        self.session.op("load_state_dict", handle=self.handle, state=state, strict=strict,
                        what=f"{self.name}.load_state_dict()")


def _tensor_bytes(value: Any) -> int:
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (list, tuple)):
        return sum(_tensor_bytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_tensor_bytes(v) for v in value.values())
    return 0


@dataclass
class LearnerSession:
    config: SessionConfig
    host: SandboxHost
    task: Any = None  # grader.api.TaskData, for milestones whose tests read harness data
    trained: Any = None  # grader.api.TrainedModel, for training milestones
    worker: WorkerProcess | None = None
    deadline: float = 0.0
    builtins_used: set[str] = field(default_factory=set)
    last_builtins: list[str] = field(default_factory=list)  # what the latest answer's record named (a claim)
    restarts: int = 0
    run_cache: dict[str, Any] = field(default_factory=dict)  # shared by the tests of one run
    metrics: dict[str, Any] = field(default_factory=dict)  # filled by tests, copied into the results
    examples: list[dict[str, Any]] = field(default_factory=list)
    _reply_bytes: int | None = None

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.config.run_timeout_s

    # -- lifecycle -----------------------------------------------------------
    def ensure_worker(self) -> WorkerProcess:
        if self.worker is not None and self.worker.alive:
            return self.worker
        if self.worker is not None:
            self.worker.close()
            self.restarts += 1
        self._check_deadline()
        self.worker = self.host.spawn(learner_name=self.config.learner_file.name, limits=self.config.limits,
                                      threads=self.config.threads, tracked=self.config.tracked,
                                      operators=self.config.operators, call_timeout_s=self.config.call_timeout_s)
        source = self.config.learner_file.read_text(encoding="utf-8", errors="replace")
        self.worker.exports = self.op("load", source=source, what=f"importing {self.config.learner_file.name}")
        return self.worker

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    def _check_deadline(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RunTimeLimit(f"the whole run's time limit ({self.config.run_timeout_s:g} s) was reached; "
                               "remaining tests were not run")
        return left

    @contextmanager
    def expecting(self, reply_bytes: int):
        """Calls inside may answer with up to ``reply_bytes`` (e.g. logits over a vocabulary)."""
        previous, self._reply_bytes = self._reply_bytes, int(reply_bytes)
        try:
            yield
        finally:
            self._reply_bytes = previous

    # -- requests ------------------------------------------------------------
    def op(self, op: str, *, what: str, timeout: float | None = None, **payload: Any) -> Any:
        worker = self.worker if op == "load" else self.ensure_worker()
        left = self._check_deadline()
        limit = min(timeout or self.config.call_timeout_s, left)
        reply = self._reply_bytes or MIN_REPLY_BYTES + 4 * _tensor_bytes(payload)
        try:
            response = worker.request(op, timeout=limit, what=what, reply_bytes=reply, **payload)
        except WorkerTimeout as error:
            if limit < (timeout or self.config.call_timeout_s):
                raise RunTimeLimit(f"the whole run's time limit ({self.config.run_timeout_s:g} s) was reached "
                                   f"during {what}") from error
            raise
        self.last_builtins = [str(name) for name in response.get("builtins", []) if isinstance(name, str)]
        self.builtins_used.update(self.last_builtins)
        try:
            return value_of(response)
        except LearnerException as error:
            locate(error, learner_file=self.config.learner_file, what=what, payload=payload if op == "call" else None)
            raise

    def call(self, target: str | Handle, method: str | None, args, kwargs, *, what: str, return_args: bool = False,
             no_grad: bool = False):
        return self.op("call", target=target, method=method, args=list(args), kwargs=dict(kwargs), what=what,
                       return_args=return_args, no_grad=no_grad)

    def function(self, name: str):
        def call(*args, **kwargs):
            return self.call(name, None, args, kwargs, what=f"{name}(...)")

        return call

    def construct(self, class_name: str, *args, **kwargs) -> Remote:
        signature = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
        value = self.call(class_name, None, args, kwargs, what=f"{class_name}({signature})")
        return Remote(self, handle_of(value), class_name)

    def reference_module(self, module: torch.nn.Module, factory: str, kwargs: dict, dtype: torch.dtype) -> Handle:
        """Ship a PyTorch module (by constructor arguments and weights) into the worker."""
        state = {k: v for k, v in module.state_dict().items()}
        return self.op("reference_module", factory=factory, kwargs=kwargs, state=state, dtype=dtype,
                       what=f"building nn.{factory}")

    def seed(self, seed: int) -> None:
        self.op("seed", seed=seed, what="seeding")
