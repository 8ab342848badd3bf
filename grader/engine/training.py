"""Judge-side orchestration of a learner's training run in the sandboxed worker.

The judge sends the training and validation tensors (never test labels), the
spec and the budget; the worker builds the learner's model, runs their
``train(model, task)`` and sends the trained weights back.

The budget is CPU time of the worker at a fixed thread count (recorded in the
outcome): a busy machine makes a run take longer, not train less, so verdicts
do not depend on the machine's load. Wall time is only an outer safety net.
Ctrl-C asks the loop to stop (``task.should_stop()``); the model as it is at
that moment is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from grader.requests import TrainRequest
from grader.engine.host import SandboxHost
from grader.engine.plugin import classify
from grader.engine.runner import judge_memory_ceiling
from grader.engine.sandbox import Limits
from grader.engine.worker_process import WorkerProcess
from grader.judge.crash_site import locate
from grader.judge.errors import LearnerException, WorkerCrashed, WorkerProblem, problem_of
from grader.judge.families import MARKERS
from grader.messages import ProtocolError, Response, Trained, TrainOrder
from grader.judge.rules import watched_operators
from grader.results import TrainOutcome
from grader.source import LearnerSource, SourceUnreadable

GRACE_S = 20.0  # wall seconds a loop may ignore should_stop() before it is interrupted
# The outer wall-clock limit is this many times the CPU budget: it only catches a loop that neither computes nor
# stops (it loses the model). Measured on a 2-core machine with 15-20 runnable programs, a 2-thread worker got
# 0.15-0.25 CPU seconds per second, i.e. 4-7x the budget in wall time; 12 leaves room for twice that load.
WALL_FACTOR = 12.0
STATE_BYTES = 1 << 30  # the largest state dict the judge reads back


def wall_limit_s(request: TrainRequest) -> float:
    return request.budget_s * WALL_FACTOR + 4 * GRACE_S + 180  # building the model, moving data, saving


def run_training(request: TrainRequest, *, on_progress: Callable[[dict], None] | None = None,
                 on_stop_requested: Callable[[], None] | None = None) -> TrainOutcome:
    devices = ("cuda",) if request.device.startswith("cuda") else ()
    limits = Limits(memory_mb=request.memory_mb if request.device == "cpu" else 0,
                    cpu_s=int(request.budget_s * 1.5 + 4 * GRACE_S * request.threads + 300))
    outcome = TrainOutcome(status="error", threads=request.threads)
    try:
        source = request.source or LearnerSource.read(request.learner_file)
    except SourceUnreadable as error:
        outcome.message = str(error)
        return outcome
    outcome.learner_file_sha256 = source.sha256  # what trained, whatever the file holds when the run ends
    host = SandboxHost(isolation=request.isolation, threads=request.threads, devices=devices).start()
    tracked = list(request.policy.tracked)
    try:
        with judge_memory_ceiling():
            worker = host.spawn(learner_name=source.name, limits=limits, threads=request.threads,
                                tracked=tracked, operators=watched_operators(list(request.policy.forbidden)),
                                call_timeout_s=120)
            outcome.sandbox = host.mode.to_dict()
            mark = worker.output_mark()
            response = worker.request("load", source=source.text, what=f"importing {source.name}")
            if response.ok:
                response = _train(worker, request, on_progress, on_stop_requested)
            outcome.output = worker.output_since(mark)
        used = [name for name in response.builtins if name not in MARKERS]
        outcome.builtins_used = sorted(used)
        outcome.forbidden_used = sorted(set(used) & set(request.policy.forbidden))
        if not response.ok:
            problem = problem_of(response)
            if isinstance(problem, LearnerException):  # where in the training loop, in shapes
                locate(problem, source=source, what="train(model, task)", payload=None)
            _, outcome.message, outcome.hint = classify(problem)
            return outcome
        try:
            trained = Trained.from_wire(response.value)
        except ProtocolError as error:
            raise WorkerCrashed(f"it sent a malformed training reply ({error})") from None
        outcome.status = "trained"
        outcome.state, outcome.history, outcome.stopped_by = trained.state, trained.history, trained.outcome
        outcome.elapsed_s, outcome.cpu_s = trained.elapsed_s, trained.cpu_s
        outcome.threads, outcome.tokens_seen = trained.threads, trained.tokens_seen
        return outcome
    except WorkerProblem as problem:
        _, outcome.message, outcome.hint = classify(problem)
        return outcome
    finally:
        host.close()


def _train(worker: WorkerProcess, request: TrainRequest, on_progress, on_stop_requested) -> Response:
    order = TrainOrder(tensors=request.task.to_worker_tensors(("train", "validation")), spec=request.task.spec,
                       budget_s=request.budget_s, device=request.device, seed=request.seed, grace_s=GRACE_S)
    worker.send("train", reply_bytes=STATE_BYTES, **order.to_payload())
    deadline = time.monotonic() + wall_limit_s(request)
    what = f"training (budget {request.budget_s:g} CPU s)"
    stop_asked = False
    while True:
        try:
            return worker.receive(timeout=max(1.0, deadline - time.monotonic()), what=what, on_progress=on_progress)
        except KeyboardInterrupt:
            if stop_asked:
                raise  # a second Ctrl-C: give up on the run
            stop_asked = True
            worker.request_stop()
            deadline = min(deadline, time.monotonic() + 3 * GRACE_S)
            if on_stop_requested:
                on_stop_requested()
