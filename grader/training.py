"""Judge-side orchestration of a learner's training run in the sandboxed worker.

The judge sends the training and validation tensors (never test labels), the
spec and the budget; the worker builds the learner's model, runs their
``train(model, task)`` and sends the trained weights back. Ctrl-C or the
budget stop the run through a stop file in the scratch folder; the model as it
is at that moment is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from grader.client import Worker, WorkerProblem, problem_of
from grader.plugin import classify
from grader.sandbox import Limits

GRACE_S = 20.0
STOP_FILE = "STOP"


@dataclass(frozen=True)
class TrainRequest:
    milestone_id: str
    learner_file: Path
    tensors: dict[str, torch.Tensor]
    spec: dict
    budget_s: float
    tracked_builtins: list[str]
    forbidden_builtins: list[str]
    memory_mb: int
    device: str = "cpu"
    seed: int = 0
    threads: int = 2
    isolate: bool = True


@dataclass
class TrainOutcome:
    status: str  # "trained" or "error"
    message: str = ""
    hint: str = ""
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    stopped_by: str = ""  # finished | budget | stopped (Ctrl-C) | interrupted (loop ignored should_stop)
    elapsed_s: float = 0.0
    tokens_seen: int = 0
    builtins_used: list[str] = field(default_factory=list)
    forbidden_used: list[str] = field(default_factory=list)
    sandbox: dict = field(default_factory=dict)
    output: str = ""


def run_training(request: TrainRequest, *, on_progress: Callable[[dict], None] | None = None,
                 on_stop_requested: Callable[[], None] | None = None) -> TrainOutcome:
    limits = Limits(memory_mb=request.memory_mb if request.device == "cpu" else 0,
                    cpu_s=int((request.budget_s + 4 * GRACE_S + 120) * request.threads))
    worker = Worker(learner_file=request.learner_file, tracked=request.tracked_builtins, limits=limits,
                    threads=request.threads, isolate=request.isolate, call_timeout_s=60,
                    devices=("cuda",) if request.device.startswith("cuda") else ())
    outcome = TrainOutcome(status="error")
    try:
        worker.start()
        outcome.sandbox = worker.mode.to_dict()
        mark = worker.output_mark()
        response = worker.request("load", what=f"importing {request.learner_file.name}")
        if response.get("ok"):
            response = _train(worker, request, on_progress, on_stop_requested)
        outcome.output = worker.output_since(mark)
        used = response.get("builtins", [])
        outcome.builtins_used = sorted(used)
        outcome.forbidden_used = sorted(set(used) & set(request.forbidden_builtins))
        if not response.get("ok"):
            _, outcome.message, outcome.hint = classify(problem_of(response), "")
            return outcome
        value = response["value"]
        outcome.status = "trained"
        outcome.state = value["state"]
        outcome.history = value["history"]
        outcome.stopped_by = value["outcome"]
        outcome.elapsed_s = float(value["elapsed_s"])
        outcome.tokens_seen = int(value["tokens_seen"])
        return outcome
    except WorkerProblem as problem:
        _, outcome.message, outcome.hint = classify(problem, "")
        return outcome
    finally:
        worker.close()


def _train(worker: Worker, request: TrainRequest, on_progress, on_stop_requested) -> dict:
    stop_file = worker.scratch / STOP_FILE
    worker.send("train", tensors=request.tensors, spec=request.spec, budget_s=request.budget_s,
                device=request.device, seed=request.seed, stop_file=str(stop_file), grace_s=GRACE_S)
    deadline = time.monotonic() + request.budget_s + 3 * GRACE_S + 120  # model building, moving data, saving
    what = f"training (budget {request.budget_s:g} s)"
    while True:
        try:
            return worker.receive(timeout=max(1.0, deadline - time.monotonic()), what=what, on_progress=on_progress)
        except KeyboardInterrupt:
            if stop_file.exists():
                raise  # a second Ctrl-C: give up on the run
            stop_file.touch()
            deadline = min(deadline, time.monotonic() + 3 * GRACE_S)
            if on_stop_requested:
                on_stop_requested()
