"""What hidden tests talk to: the learner's code, behind the sandbox.

``LearnerSession`` owns the worker for a whole run (restarting it after a crash
or timeout), enforces the run's time limit and the built-in rule, and offers a
small API: call a function, construct a module, load reference weights, run
forward. Tests never see learner objects, only handles and tensors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from grader.client import ForbiddenBuiltin, Worker, WorkerProblem, WorkerTimeout, handle_of, value_of
from grader.protocol import Handle
from grader.sandbox import Limits


@dataclass
class SessionConfig:
    learner_file: Path
    tracked: list[str]
    forbidden: list[str]
    limits: Limits
    call_timeout_s: float
    run_timeout_s: float
    threads: int = 2
    isolate: bool = True
    device: str = "cpu"


class RunTimeLimit(WorkerProblem):
    pass


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
        return self.session.op("state_dict", handle=self.handle, what=f"{self.name}.state_dict()")

    def load_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True) -> None:
        self.session.op("load_state_dict", handle=self.handle, state=state, strict=strict,
                        what=f"{self.name}.load_state_dict()")


@dataclass
class LearnerSession:
    config: SessionConfig
    worker: Worker | None = None
    deadline: float = 0.0
    builtins_used: set[str] = field(default_factory=set)
    forbidden_used: set[str] = field(default_factory=set)
    restarts: int = 0
    options: dict[str, Any] = field(default_factory=dict)  # run-specific values for training milestones
    metrics: dict[str, Any] = field(default_factory=dict)  # filled by tests, copied into the results
    examples: list[dict[str, Any]] = field(default_factory=list)

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
        worker = Worker(learner_file=self.config.learner_file, tracked=self.config.tracked,
                        limits=self.config.limits, threads=self.config.threads, isolate=self.config.isolate,
                        call_timeout_s=self.config.call_timeout_s).start()
        self.worker = worker
        worker.exports = self.op("load", what=f"importing {self.config.learner_file.name}")
        return worker

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()

    def _check_deadline(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise RunTimeLimit(f"the whole run's time limit ({self.config.run_timeout_s:g} s) was reached; "
                               "remaining tests were not run")
        return left

    # -- requests ------------------------------------------------------------
    def op(self, op: str, *, what: str, timeout: float | None = None, **payload: Any) -> Any:
        worker = self.worker if op == "load" else self.ensure_worker()
        left = self._check_deadline()
        limit = min(timeout or self.config.call_timeout_s, left)
        try:
            response = worker.request(op, timeout=limit, what=what, **payload)
        except WorkerTimeout as error:
            if limit < (timeout or self.config.call_timeout_s):
                raise RunTimeLimit(f"the whole run's time limit ({self.config.run_timeout_s:g} s) was reached "
                                   f"during {what}") from error
            raise
        used = response.get("builtins", [])
        self.builtins_used.update(used)
        forbidden = sorted(set(used) & set(self.config.forbidden))
        if forbidden:
            self.forbidden_used.update(forbidden)
            raise ForbiddenBuiltin(forbidden)
        return value_of(response)

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
