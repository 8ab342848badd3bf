"""The worker: runs inside the sandbox, imports the learner's file and answers
the judge's requests. It is the only process that ever executes learner code.

Start-up order matters: confine the process (Landlock, capabilities) before
the learner's module is imported. The protocol runs on two inherited file
descriptors; the learner's prints go to stdout/stderr, which the judge
captures separately.
"""

from __future__ import annotations

import _thread
import argparse
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from grader.confine import apply_landlock, drop_capabilities
from grader.protocol import GeneratorSeed, Handle, Unsupported, read_message, write_message

REFERENCE_FACTORIES = ("MultiheadAttention", "TransformerEncoderLayer", "Linear", "LayerNorm", "Embedding")


class LearnerFailure(Exception):
    """Learner code raised; carries a message trimmed to the learner's frames."""


def _learner_traceback(error: BaseException, learner_path: str) -> str:
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == learner_path]
    lines = [f"  {Path(f.filename).name}, line {f.lineno}, in {f.name}\n    {f.line}" for f in frames[-6:]]
    return "\n".join(lines)


def _describe(error: BaseException) -> str:
    if isinstance(error, SystemExit):
        return f"SystemExit: your code called sys.exit({error.code!r})"
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Worker:
    def __init__(self, learner_path: Path, tracked: list[str]):
        import torch

        from grader.builtins_guard import BuiltinTracker

        self.torch = torch
        self.learner_path = str(learner_path)
        self.module: Any = None
        self.objects: dict[int, Any] = {}
        self.harness_owned: set[int] = set()
        self.tracker = BuiltinTracker(tracked)
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
            return self.torch.Generator().manual_seed(value.seed)
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        return value

    def _export(self, value: Any) -> Any:
        torch = self.torch
        if isinstance(value, torch.nn.Module):
            return self._store(value)
        if isinstance(value, (list, tuple)):
            return [self._export(v) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {k: self._export(v) for k, v in value.items()}
        if isinstance(value, torch.Tensor) and type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
            return Unsupported(f"{type(value).__qualname__} (a Tensor subclass)")
        return value

    def _learner_call(self, fn, *args, **kwargs):
        with self.tracker.mode():
            return fn(*args, **kwargs)

    # -- operations ----------------------------------------------------------
    def op_load(self, request: dict) -> Any:
        spec = importlib.util.spec_from_file_location("learner_solution", self.learner_path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["learner_solution"] = module
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
                raise LookupError(f"missing:{target}")
            obj = getattr(self.module, target)
        method = request.get("method")
        if method:
            if not hasattr(obj, method):
                raise LookupError(f"missing:{type(obj).__name__}.{method}")
            obj = getattr(obj, method)
        return obj

    def op_call(self, request: dict) -> Any:
        fn = self._target(request)
        args = self._resolve(request.get("args", []))
        kwargs = self._resolve(request.get("kwargs", {}))
        grad = self.torch.enable_grad() if not request.get("no_grad") else self.torch.no_grad()
        with grad:
            result = self._learner_call(fn, *args, **kwargs)
        for obj in [result, *[a for a in args if isinstance(a, self.torch.nn.Module)]]:
            self.tracker.scan(obj, self.harness_owned)
        if isinstance(request.get("target"), Handle):
            self.tracker.scan(self.objects[request["target"].id], self.harness_owned)
        if request.get("return_args"):  # lets the judge see in-place changes to its inputs
            return {"result": self._export(result), "args": [a for a in args if isinstance(a, self.torch.Tensor)]}
        return self._export(result)

    def op_reference_module(self, request: dict) -> Any:
        factory = request["factory"]
        if factory not in REFERENCE_FACTORIES:
            raise ValueError(f"unknown reference module {factory}")
        module = getattr(self.torch.nn, factory)(**request.get("kwargs", {}))
        module.to(request.get("dtype", self.torch.float32))  # before loading: float64 weights stay float64
        module.load_state_dict(request["state"], strict=True)
        module.eval()
        return self._store(module, harness=True)

    def op_to(self, request: dict) -> Any:
        obj = self.objects[request["handle"].id]
        self._learner_call(obj.to, request["dtype"])
        return None

    def op_train_mode(self, request: dict) -> Any:
        obj = self.objects[request["handle"].id]
        self._learner_call(obj.train, bool(request["mode"]))
        return None

    def op_parameters(self, request: dict) -> Any:
        obj = self.objects[request["handle"].id]
        return [[name, list(p.shape), str(p.dtype).removeprefix("torch.")] for name, p in obj.named_parameters()]

    def op_state_dict(self, request: dict) -> Any:
        obj = self.objects[request["handle"].id]
        return {k: v for k, v in self._learner_call(obj.state_dict).items()}

    def op_load_state_dict(self, request: dict) -> Any:
        obj = self.objects[request["handle"].id]
        self._learner_call(obj.load_state_dict, request["state"], strict=bool(request.get("strict", True)))
        return None

    def op_train(self, request: dict) -> Any:
        """Build the learner's model and run their training loop within the budget.

        Stopping: the task's should_stop() turns True at the budget or when the
        judge creates the stop file (Ctrl-C); a loop that ignores it gets a
        KeyboardInterrupt after a grace period. Either way the model as it is
        comes back, so nothing trained is lost.
        """
        from grader.training_task import TrainingTask

        torch = self.torch
        seed, device = int(request["seed"]), str(request.get("device", "cpu"))
        torch.manual_seed(seed)
        model = self._learner_call(self.module.build_model, dict(request["spec"]))
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"build_model(spec) must return an nn.Module, not {type(model).__name__}")
        self._learner_call(model.to, device)
        stop_file = Path(request["stop_file"])
        task = TrainingTask(request["tensors"], request["spec"], budget_s=float(request["budget_s"]), device=device,
                            seed=seed, progress=lambda info: write_message(self.responses, {"progress": info}),
                            stop_requested=stop_file.exists)
        done = threading.Event()
        threading.Thread(target=_watchdog, args=(task, stop_file, done, float(request.get("grace_s", 20))),
                         daemon=True).start()
        outcome = "finished"
        try:
            self._learner_call(self.module.train, model, task)
        except KeyboardInterrupt:
            outcome = "interrupted"
        finally:
            done.set()
        if outcome == "finished" and (stop_file.exists() or task.time_left() <= 0):
            outcome = "stopped" if stop_file.exists() else "budget"
        self.tracker.scan(model, self.harness_owned)
        state = {k: v.detach().to("cpu") for k, v in model.state_dict().items()}
        return {"state": state, "history": task.history, "outcome": outcome, "elapsed_s": task.elapsed(),
                "tokens_seen": task.tokens_seen, "model": self._store(model.to("cpu"))}

    def op_seed(self, request: dict) -> Any:
        self.torch.manual_seed(int(request["seed"]))
        return None

    def op_release(self, request: dict) -> Any:
        obj = self.objects.pop(request["handle"].id, None)
        self.harness_owned.discard(id(obj))
        return None

    def dispatch(self, request: dict) -> dict:
        op = request.get("op")
        handler = getattr(self, f"op_{op}", None)
        started = time.perf_counter()
        if handler is None:
            return {"ok": False, "error": {"kind": "protocol", "message": f"unknown op {op!r}"}}
        try:
            value = handler(request)
            response = {"ok": True, "value": value}
        except LookupError as error:
            text = str(error).strip("'\"")
            if text.startswith("missing:"):
                response = {"ok": False, "error": {"kind": "missing", "message": text.removeprefix("missing:")}}
            else:
                response = self._failure(error)
        except BaseException as error:  # noqa: BLE001 - learner code may raise anything, even SystemExit
            if isinstance(error, KeyboardInterrupt) and request.get("op") != "train":
                raise
            response = self._failure(error)
        response["builtins"] = self.tracker.take()
        response["duration_s"] = time.perf_counter() - started
        return response

    def _failure(self, error: BaseException) -> dict:
        return {"ok": False, "error": {"kind": "exception", "type": type(error).__name__,
                                       "message": _describe(error),
                                       "traceback": _learner_traceback(error, self.learner_path)}}


def _watchdog(task, stop_file: Path, done: threading.Event, grace_s: float) -> None:
    """Interrupt a training loop that ignores should_stop() for longer than the grace period."""
    stop_seen = None
    while not done.wait(0.5):
        if stop_seen is None and (stop_file.exists() or task.time_left() <= 0):
            stop_seen = time.monotonic()
        if stop_seen is not None and time.monotonic() - stop_seen > grace_s:
            _thread.interrupt_main()
            return


def _confine(config: dict) -> dict:
    if not config.get("confine"):
        return {"filesystem": "unrestricted (disabled)", "tcp": "unrestricted", "capabilities": "kept"}
    info = apply_landlock(read_paths=[Path(p) for p in config["read_paths"]],
                          write_paths=[Path(p) for p in config["write_paths"]],
                          write_files=[Path(p) for p in config["write_files"]])
    info["capabilities"] = "dropped" if drop_capabilities() else "kept"
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="challenge sandboxed worker (started by the judge)")
    parser.add_argument("--fd-in", type=int, required=True)
    parser.add_argument("--fd-out", type=int, required=True)
    parser.add_argument("--config", required=True, help="JSON: learner path, tracked built-ins, confinement")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    requests = os.fdopen(args.fd_in, "rb", buffering=0)
    responses = os.fdopen(args.fd_out, "wb", buffering=0)
    import torch  # imported before confinement; the learner's module only after it

    torch.set_num_threads(int(config.get("threads", 1)))
    worker = Worker(Path(config["learner_path"]), list(config.get("tracked", [])))
    worker.responses = responses
    sandbox = _confine(config)
    write_message(responses, {"ok": True, "value": {"sandbox": sandbox, "torch": torch.__version__, "pid": os.getpid()}})
    owner = os.getpid()
    os.register_at_fork(after_in_child=lambda: _detach_protocol(args.fd_in, args.fd_out))
    while True:
        try:
            request = read_message(requests)
        except EOFError:
            return
        if request.get("op") == "exit":
            return
        response = worker.dispatch(request)
        if os.getpid() != owner:  # a fork of the learner's returned here: only the worker itself answers
            os._exit(0)
        response["seq"] = request.get("seq")
        sys.stdout.flush()
        sys.stderr.flush()
        write_message(responses, response)


def _detach_protocol(*fds: int) -> None:
    """In a process forked by learner code: cut it off from the judge's channel."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        try:
            os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


if __name__ == "__main__":
    main()
