"""The judge's side of the worker: start it sandboxed, send requests, enforce
timeouts, capture its output, and turn every way it can die into a named error.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from grader.protocol import Handle, ProtocolError, read_message, write_message
from grader.sandbox import Limits, SandboxMode, TaskCgroup, launch, worker_config

OUTPUT_KEEP = 64 * 1024
START_TIMEOUT_S = 60


class WorkerProblem(Exception):
    """Base for every way a request into learner code can go wrong."""

    status = "error"


class LearnerException(WorkerProblem):
    def __init__(self, message: str, traceback: str = "", type_name: str = ""):
        super().__init__(message)
        self.message, self.traceback, self.type_name = message, traceback, type_name


class MissingSymbol(WorkerProblem):
    def __init__(self, name: str):
        super().__init__(f"{name} is not defined in your file")
        self.name = name


class WorkerTimeout(WorkerProblem):
    def __init__(self, seconds: float, what: str):
        super().__init__(f"{what} did not finish within {seconds:g} s (an infinite loop, or far too slow?)")
        self.seconds = seconds


class WorkerCrashed(WorkerProblem):
    def __init__(self, reason: str):
        super().__init__(f"your code crashed the worker process: {reason}")
        self.reason = reason


class ForbiddenBuiltin(Exception):
    def __init__(self, names: list[str]):
        self.names = names
        super().__init__(", ".join(names))


def describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0 or code > 128:
        number = -code if code < 0 else code - 128
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        meaning = {"SIGSEGV": "a segmentation fault", "SIGKILL": "killed (out of memory, or a limit)",
                   "SIGXCPU": "CPU time limit exceeded", "SIGXFSZ": "file size limit exceeded",
                   "SIGABRT": "aborted", "SIGBUS": "bus error"}.get(name, name)
        return f"{name}: {meaning}"
    return f"it exited with status {code} (os._exit or a fatal error)"


@dataclass
class _Capture:
    """Keeps the first OUTPUT_KEEP bytes of a stream after the latest mark, counts the rest.

    Marks are stream positions, used one at a time (a test's setup marks, its
    teardown reads). Each mark starts a new window and drops what came before,
    so one test that prints megabytes neither hides the output of the tests
    after it nor makes them all say "truncated" (both happened before).
    """

    data: bytearray = field(default_factory=bytearray)
    base: int = 0  # stream position of data[0]
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pump(self, stream) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            with self.lock:
                self.total += len(chunk)
                room = OUTPUT_KEEP - len(self.data)
                if room > 0:
                    self.data += chunk[:room]

    def mark(self) -> int:
        with self.lock:
            self.data, self.base = bytearray(), self.total
            return self.total

    def since(self, mark: int) -> tuple[str, int]:
        """(text kept since ``mark``, bytes written since ``mark`` that were not kept)."""
        with self.lock:
            if mark > self.total:  # a mark from a worker that was since replaced
                mark = self.base
            kept = self.data[max(0, mark - self.base):]
            return kept.decode("utf-8", "replace"), self.total - max(mark, self.base) - len(kept)


class Worker:
    """One sandboxed worker process serving requests for a whole test run."""

    def __init__(self, *, learner_file: Path, tracked: list[str], limits: Limits, threads: int = 2,
                 isolate: bool = True, call_timeout_s: float = 30.0, devices: tuple[str, ...] = ()):
        self.learner_file = Path(learner_file)
        self.devices = devices
        self.tracked, self.limits, self.threads, self.isolate = tracked, limits, threads, isolate
        self.call_timeout_s = call_timeout_s
        self.process = None
        self.mode = SandboxMode()
        self.info: dict = {}
        self.exports: list[str] = []
        self._responses: Queue = Queue()
        self._stdout, self._stderr = _Capture(), _Capture()
        self.scratch: Path | None = None
        self.cgroup: TaskCgroup | None = None
        self._seq = 0  # numbers the requests; a worker that echoes "seq" lets us spot answers out of turn
        self._requests = None
        self._streams: list = []
        self._threads: list[threading.Thread] = []

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "Worker":
        try:
            return self._start()
        except BaseException:
            self.close()  # a worker that never said hello still leaves a scratch folder and a cgroup
            raise

    def _start(self) -> "Worker":
        self.scratch = Path(tempfile.mkdtemp(prefix="challenge-worker-"))
        learner_copy = self.scratch / self.learner_file.name
        shutil.copyfile(self.learner_file, learner_copy)
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        config = worker_config(learner_path=learner_copy, scratch=self.scratch, tracked=self.tracked,
                               threads=self.threads, confine=self.isolate, devices=self.devices)
        try:
            self.cgroup = TaskCgroup.create(self.limits.processes)
            self.process, self.mode = launch(config=config, scratch=self.scratch, limits=self.limits,
                                             threads=self.threads, fds=(req_r, resp_w), isolate=self.isolate,
                                             cgroup=self.cgroup)
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._requests = os.fdopen(req_w, "wb", buffering=0)
        responses = os.fdopen(resp_r, "rb", buffering=0)
        self._streams = [responses, self.process.stdout, self.process.stderr]
        for capture, stream in ((self._stdout, self.process.stdout), (self._stderr, self.process.stderr)):
            self._threads.append(threading.Thread(target=capture.pump, args=(stream,), daemon=True))
        self._threads.append(threading.Thread(target=self._read_responses, args=(responses,), daemon=True))
        for thread in self._threads:
            thread.start()
        hello = self._await(START_TIMEOUT_S, "starting the sandboxed worker")
        self.info = hello["value"]
        sandbox = self.info.get("sandbox", {})
        self.mode.filesystem = sandbox.get("filesystem", self.mode.filesystem)
        self.mode.tcp = sandbox.get("tcp", self.mode.tcp)
        self.mode.capabilities = sandbox.get("capabilities", self.mode.capabilities)
        return self

    def _read_responses(self, stream) -> None:
        try:
            while True:
                self._responses.put(read_message(stream))
        except (EOFError, OSError, ProtocolError) as error:
            self._responses.put(error)
        except Exception as error:  # noqa: BLE001 - whatever the worker sent, never let this thread die silently
            self._responses.put(ProtocolError(f"{type(error).__name__}: {error}"))

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.kill_all()  # also processes that left the group (setsid) where there is no PID namespace
        try:
            self.process.wait(timeout=10)
        except Exception:  # noqa: BLE001
            pass

    def close(self) -> None:
        # No orderly {"op": "exit"}: the worker holds nothing worth saving (every answer came back over
        # the protocol), and Python's teardown with torch loaded took ~0.5-0.8 s of every run; SIGKILL ~0.02 s.
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
        # close our pipe ends (4 descriptors per worker stayed open until garbage collection); the reader
        # threads end at EOF now that the worker is dead, unless an escaped process still holds a pipe
        if self._requests is not None:
            self._requests.close()
        for thread in self._threads:
            thread.join(timeout=1)
        if not any(thread.is_alive() for thread in self._threads):
            for stream in self._streams:
                stream.close()

    def interrupt(self) -> None:
        """Ask learner code to stop (KeyboardInterrupt in the worker)."""
        if self.alive:
            try:
                os.killpg(self.process.pid, signal.SIGINT)
            except (ProcessLookupError, PermissionError):
                pass

    # -- output --------------------------------------------------------------
    def output_mark(self) -> tuple[int, int]:
        return self._stdout.mark(), self._stderr.mark()

    def output_since(self, mark: tuple[int, int]) -> str:
        out, out_lost = self._stdout.since(mark[0])
        err, err_lost = self._stderr.since(mark[1])
        text = out + err
        if out_lost or err_lost:  # first, so that it survives the results' 500-character cap
            text = f"[output truncated: {out_lost + err_lost} more bytes were not kept]\n" + text
        return text

    # -- requests ------------------------------------------------------------
    def _await(self, timeout: float, what: str) -> dict:
        try:
            item = self._responses.get(timeout=timeout)
        except Empty:
            self.kill()
            raise WorkerTimeout(timeout, what) from None
        if isinstance(item, Exception):
            self.kill()
            if isinstance(item, ProtocolError):
                raise WorkerCrashed(f"it sent a malformed message ({item})")
            code = self.process.wait(timeout=10) if self.process else None
            raise WorkerCrashed(describe_exit(code))
        return item

    def send(self, op: str, **payload: Any) -> None:
        if not self.alive:
            raise WorkerCrashed("it is no longer running")
        self._seq += 1
        try:
            write_message(self._requests, {"op": op, "seq": self._seq, **payload})
        except (BrokenPipeError, OSError):
            self.kill()
            raise WorkerCrashed(describe_exit(self.process.wait(timeout=10))) from None

    def receive(self, *, timeout: float, what: str, on_progress=None) -> dict:
        """Wait for the response to the last request; progress messages go to ``on_progress``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._await(max(0.01, deadline - time.monotonic()), what)
            except WorkerTimeout:
                raise WorkerTimeout(timeout, what) from None
            if "progress" not in message:
                if "seq" in message and message["seq"] != self._seq:
                    # e.g. forked copies of the worker (a fork bomb returning into the request loop) each
                    # answering: every later test would get a stale answer. The worker cannot be trusted now.
                    self.kill()
                    raise WorkerCrashed(f"it answered request {message['seq']!r} while request {self._seq} was "
                                        "pending (did your code fork the worker process?)")
                return message
            if on_progress is not None and isinstance(message["progress"], dict):
                on_progress(message["progress"])

    def request(self, op: str, *, timeout: float | None = None, what: str = "the call",
                on_progress=None, **payload: Any) -> dict:
        """Send one request and return the raw response (ok, value, error, builtins)."""
        self.send(op, **payload)
        return self.receive(timeout=timeout or self.call_timeout_s, what=what, on_progress=on_progress)

    def value(self, op: str, **payload: Any) -> Any:
        response = self.request(op, **payload)
        self.last_builtins = response.get("builtins", [])
        return value_of(response)


def problem_of(response: dict) -> WorkerProblem:
    """The exception a failed response stands for."""
    error = response.get("error", {})
    if error.get("kind") == "missing":
        return MissingSymbol(error.get("message", "?"))
    return LearnerException(error.get("message", "unknown error"), error.get("traceback", ""), error.get("type", ""))


def value_of(response: dict) -> Any:
    """The value of a successful response; raises what a failed one stands for."""
    if response.get("ok"):
        return response.get("value")
    raise problem_of(response)


def handle_of(value: Any) -> Handle:
    if not isinstance(value, Handle):
        raise LearnerException(f"expected an nn.Module, got {type(value).__name__}")
    return value


def wait_until(deadline: float) -> float:
    return max(0.1, deadline - time.monotonic())
