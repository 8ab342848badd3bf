"""What the worker can do for the judge: import the learner's file and answer
requests (call a function, construct a module, load weights, train, ...).

One ``LearnerHost`` lives in one forked worker process, for one run of one
learner file; nothing survives into the next run. Learner objects stay here:
the judge sees handles and tensors only.
"""

from __future__ import annotations

import _thread
import importlib.util
import sys
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from grader.messages import Failure, Missing, Progress, ProtocolError, Request, Response, Trained, TrainOrder
from grader.protocol import GeneratorSeed, Handle, Unsupported, write_message
from grader.worker.crash import crash_site
from grader.worker.record import BuiltinRecord

REFERENCE_FACTORIES = ("MultiheadAttention", "TransformerEncoderLayer", "Linear", "LayerNorm", "Embedding")
MODULE_NAME = "learner_solution"


def _learner_traceback(error: BaseException, learner_path: str) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == learner_path]
    lines = [f"  {Path(f.filename).name}, line {f.lineno}, in {f.name}\n    {f.line}" for f in frames[-6:]]
    return "\n".join(lines)


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit: your code called sys.exit({error.code!r})"
    if isinstance(error, KeyboardInterrupt):
        return "KeyboardInterrupt: raised by your code (nobody pressed Ctrl-C)"
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class LearnerHost:
    def __init__(self, *, learner_path: Path, record: BuiltinRecord, responses, stop_requested):
        self.learner_path = str(learner_path)
        self.module: Any = None
        self.objects: dict[int, Any] = {}
        self.harness_owned: set[int] = set()
        self.record = record
        self.responses = responses  # for progress messages during training
        self.stop_requested = stop_requested  # () -> bool: the judge asked a training run to stop
        self.interrupting = False  # True once our own watchdog interrupts a training loop
        self.next_id = 1

    # -- helpers -------------------------------------------------------------
    def _store(self, obj: Any, harness: bool = False) -> Handle:
        handle = Handle(self.next_id)
        self.next_id += 1
        self.objects[handle.id] = obj
        if harness:
            self.harness_owned.add(id(obj))
        return handle

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, Handle):
            return self.objects[value.id]
        if isinstance(value, GeneratorSeed):
            return torch.Generator().manual_seed(value.seed)
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        return value

    def _export(self, value: Any) -> Any:
        if isinstance(value, torch.nn.Module):
            return self._store(value)
        if isinstance(value, (list, tuple)):
            return [self._export(v) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: self._export(v) for k, v in value.items()}
        if isinstance(value, torch.Tensor) and type(value) is not torch.Tensor \
                and not isinstance(value, torch.nn.Parameter):
            return Unsupported(f"{type(value).__qualname__} (a Tensor subclass)")
        return value

    def _learner_call(self, fn, *args, operators: bool = True, **kwargs):
        with self.record.watching(operators=operators):
            return fn(*args, **kwargs)

    # -- operations ----------------------------------------------------------
    def op_load(self, request: dict) -> Any:
        path = Path(self.learner_path)
        path.write_text(str(request["source"]), encoding="utf-8")
        spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[MODULE_NAME] = module
        self._learner_call(spec.loader.exec_module, module)
        self.module = module
        return sorted(name for name in vars(module) if not name.startswith("_"))

    def _target(self, request: dict) -> Any:
        target = request["target"]
        if isinstance(target, Handle):
            obj = self.objects[target.id]
        else:
            if self.module is None:
                raise RuntimeError("learner module not loaded")
            if not hasattr(self.module, target):
                raise Missing(target)
            obj = getattr(self.module, target)
        method = request.get("method")
        if method:
            if not hasattr(obj, method):
                raise Missing(f"{type(obj).__name__}.{method}")
            obj = getattr(obj, method)
        return obj

    def op_call(self, request: dict) -> Any:
        fn = self._target(request)
        args = self._resolve(request.get("args", []))
        kwargs = self._resolve(request.get("kwargs", {}))
        grad = torch.enable_grad() if not request.get("no_grad") else torch.no_grad()
        with grad:
            result = self._learner_call(fn, *args, **kwargs)
        for obj in [result, *[a for a in args if isinstance(a, torch.nn.Module)]]:
            self.record.scan(obj, self.harness_owned)
        if isinstance(request.get("target"), Handle):
            self.record.scan(self.objects[request["target"].id], self.harness_owned)
        if request.get("return_args"):  # lets the judge see in-place changes to its inputs
            return {"result": self._export(result), "args": [a for a in args if isinstance(a, torch.Tensor)]}
        return self._export(result)

    def op_reference_module(self, request: dict) -> Any:
        factory = request["factory"]
        if factory not in REFERENCE_FACTORIES:
            raise ValueError(f"unknown reference module {factory}")
        module = getattr(torch.nn, factory)(**request.get("kwargs", {}))
        module.to(request.get("dtype", torch.float32))  # before loading: float64 weights stay float64
        module.load_state_dict(request["state"], strict=True)
        module.eval()
        return self._store(module, harness=True)

    def op_to(self, request: dict) -> Any:
        self._learner_call(self.objects[request["handle"].id].to, request["dtype"])
        return None

    def op_train_mode(self, request: dict) -> Any:
        self._learner_call(self.objects[request["handle"].id].train, bool(request["mode"]))
        return None

    def op_parameters(self, request: dict) -> Any:
        obj = self.objects[request["handle"].id]
        return [[name, list(p.shape), str(p.dtype).removeprefix("torch.")] for name, p in obj.named_parameters()]

    def op_state_dict(self, request: dict) -> Any:
        return dict(self._learner_call(self.objects[request["handle"].id].state_dict))

    def op_load_state_dict(self, request: dict) -> Any:
        obj = self.objects[request["handle"].id]
        self._learner_call(obj.load_state_dict, request["state"], strict=bool(request.get("strict", True)))
        return None

    def op_train(self, request: dict) -> Any:
        """Build the learner's model and run their training loop within the budget.

        The budget counts this process's CPU time (``time.process_time``: every
        thread), so a busy machine slows a run down without shortening it.
        Stopping: ``task.should_stop()`` turns True at the budget or when the
        judge asks (Ctrl-C); a loop that ignores it is interrupted after a
        grace period of wall time. Either way the model as it is comes back.
        """
        from grader.worker.training_task import TrainingTask

        order = TrainOrder.from_payload(request)  # checked: the budget arrives as a float, once
        seed, device = order.seed, order.device
        torch.manual_seed(seed)
        model = self._learner_call(self.module.build_model, dict(order.spec), operators=False)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"build_model(spec) must return an nn.Module, not {type(model).__name__}")
        self._learner_call(model.to, device, operators=False)
        task = TrainingTask(order.tensors, order.spec, budget_s=order.budget_s, device=device,
                            seed=seed, progress=lambda info: write_message(self.responses, Progress(info).to_wire()),
                            stop_requested=self.stop_requested, clock=time.process_time)
        done = threading.Event()
        threading.Thread(target=self._watchdog, args=(task, done, order.grace_s),
                         daemon=True).start()
        wall_started = time.monotonic()
        outcome = "finished"
        try:
            self._learner_call(self.module.train, model, task, operators=False)
        except KeyboardInterrupt:
            if not self.interrupting:
                raise  # raised by the learner's own code: their error, reported as such
            outcome = "interrupted"
        finally:
            done.set()
        if outcome == "finished" and (self.stop_requested() or task.time_left() <= 0):
            outcome = "stopped" if self.stop_requested() else "budget"
        self.record.scan(model, self.harness_owned)
        state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
        trained = Trained(state=state, history=task.history, outcome=outcome, cpu_s=task.elapsed(),
                          elapsed_s=time.monotonic() - wall_started, threads=torch.get_num_threads(),
                          tokens_seen=task.tokens_seen)
        return trained.to_wire() | {"model": self._store(model.to("cpu"))}

    def _watchdog(self, task, done: threading.Event, grace_s: float) -> None:
        """Interrupt a training loop that ignores should_stop() for longer than the grace period (wall time)."""
        stop_seen = None
        while not done.wait(0.5):
            if stop_seen is None and (self.stop_requested() or task.time_left() <= 0):
                stop_seen = time.monotonic()
            if stop_seen is not None and time.monotonic() - stop_seen > grace_s:
                self.interrupting = True
                _thread.interrupt_main()
                return

    def op_seed(self, request: dict) -> Any:
        torch.manual_seed(int(request["seed"]))
        return None

    def op_release(self, request: dict) -> Any:
        obj = self.objects.pop(request["handle"].id, None)
        self.harness_owned.discard(id(obj))
        return None

    def dispatch(self, raw: dict) -> dict:
        """The wire form of the ``Response`` to one request (``grader.messages``), checked before it runs."""
        started = time.perf_counter()
        try:
            request = Request.from_wire(raw)
        except ProtocolError as error:
            return Response(ok=False, error=Failure("protocol", str(error))).to_wire()
        handler = getattr(self, f"op_{request.op}", None)
        if handler is None:
            return Response(ok=False, error=Failure("protocol", f"unknown op {request.op!r}")).to_wire()
        try:
            response = Response(ok=True, value=handler(request.payload))
        except Missing as missing:
            response = Response(ok=False, error=Failure("missing", missing.name))
        except BaseException as error:  # noqa: BLE001 - learner code may raise anything, even SystemExit
            response = Response(ok=False, error=self._failure(error))
        return replace(response, builtins=tuple(self.record.take()),
                       duration_s=time.perf_counter() - started).to_wire()

    def _failure(self, error: BaseException) -> Failure:
        return Failure("exception", _describe(error), type=type(error).__name__,
                       traceback=_learner_traceback(error, self.learner_path),
                       site=crash_site(error, self.learner_path))
