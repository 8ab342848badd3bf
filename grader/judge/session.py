"""What hidden tests talk to: the learner's code, behind the sandbox.

``LearnerSession`` owns the worker process of one run (a fresh one after a
crash or a timeout, forked from the same warm sandbox), enforces the run's
time limit, records the built-ins the worker reports, and offers a small API:
call a function, construct a module, load reference weights, run forward.
Tests never see learner objects, only handles and tensors.

What a run's tests may read besides the learner's code is typed: ``task``
(the harness's data, for milestones that use it), ``trained`` (the learner's
checkpoint and training log, for training milestones) and ``run_cache`` (the
scratch space the tests of one run share under typed keys, e.g. scores computed once).
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from grader.judge.crash_site import locate
from grader.judge.errors import LearnerException, WorkerTimeout, handle_of, value_of
from grader.judge.not_run import HungCallables, budget_spent
from grader.judge.run_cache import RunCache
from grader.messages import Response
from grader.protocol import Handle
from grader.requests import TaskData, TrainedModel
from grader.source import LearnerSource

MIN_REPLY_BYTES = 16 * 1024 * 1024


# What the session needs of the engine, as the engine's SandboxHost and WorkerProcess provide it: the judge names
# the two ports it uses and never imports the engine, so the engine's imports of the judge run one way.
class Worker(Protocol):
    exports: list[str]  # the names the learner's file defines (set when it is loaded)

    @property
    def alive(self) -> bool: ...

    def request(self, op: str, *, timeout: float | None = ..., what: str = ..., reply_bytes: int | None = ...,
                **payload: Any) -> Response: ...

    def close(self) -> None: ...


class WorkerHost(Protocol):
    def spawn(self, *, learner_name: str, limits: Any, threads: int, tracked: list[str],
              operators: dict[str, str], call_timeout_s: float) -> Worker: ...


@dataclass
class SessionConfig:
    source: LearnerSource  # read once per run: every worker of the run (a restart too) loads these bytes
    tracked: list[str]
    limits: Any  # the sandbox's resource limits (grader.engine.sandbox.Limits), handed to the host as they are
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
    host: WorkerHost
    task: TaskData | None = None  # for milestones whose tests read harness data
    trained: TrainedModel | None = None  # for training milestones
    worker: Worker | None = None
    deadline: float = 0.0
    builtins_used: set[str] = field(default_factory=set)
    last_builtins: list[str] = field(default_factory=list)  # what the latest answer's record named (a claim)
    restarts: int = 0
    run_cache: RunCache = field(default_factory=RunCache)  # shared by the tests of one run, under typed keys
    metrics: dict[str, Any] = field(default_factory=dict)  # filled by tests, copied into the results
    examples: list[dict[str, Any]] = field(default_factory=list)
    hung: HungCallables = field(default_factory=HungCallables)  # callables that did not return: not called again
    _reply_bytes: int | None = None

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.config.run_timeout_s

    # -- lifecycle -----------------------------------------------------------
    def ensure_worker(self) -> Worker:
        if self.worker is not None and self.worker.alive:
            return self.worker
        if self.worker is not None:
            self.worker.close()
            self.restarts += 1
        self._check_deadline()
        source = self.config.source
        self.worker = self.host.spawn(learner_name=source.name, limits=self.config.limits,
                                      threads=self.config.threads, tracked=self.config.tracked,
                                      operators=self.config.operators, call_timeout_s=self.config.call_timeout_s)
        self.worker.exports = self.op("load", source=source.text, what=f"importing {source.name}")
        return self.worker

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    def start_budget(self) -> None:
        """The run's budget counts from its first test: starting the sandbox and importing the file have limits
        of their own (and a busy machine must not eat the tests' time)."""
        self.deadline = time.monotonic() + self.config.run_timeout_s

    def _check_deadline(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise budget_spent(self.config.run_timeout_s)
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
        if op == "call":
            self.hung.refuse(what)  # before a fresh worker is started for it
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
            if op == "call":
                self.hung.record(what, limit)
            raise
        self.last_builtins = list(response.builtins)
        self.builtins_used.update(self.last_builtins)
        try:
            return value_of(response)
        except LearnerException as error:
            locate(error, source=self.config.source, what=what, payload=payload if op == "call" else None)
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
