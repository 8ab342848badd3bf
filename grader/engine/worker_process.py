"""The judge's handle on one worker process (one run, forked in the sandbox):
send requests, enforce timeouts, bound what is read back, capture its output,
and turn every way it can die into a named error.

The judge reads nothing larger than the request's expected answer: each
request carries a byte budget, and a reply over it is refused before its body
is read (a 1.2 GB tensor once took the judge to 3.8 GB).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from queue import Empty, Queue
from typing import Any, Protocol

from grader.engine.capture import OutputCapture
from grader.judge.errors import STOPPED_BY_LEARNER, WorkerCrashed, WorkerTimeout, value_of
from grader.messages import ProtocolError, Request, Response, reply_from_wire
from grader.protocol import MessageTooLarge, read_message, write_message



class RunHost(Protocol):
    """What a run needs of the sandbox it was forked in (``grader.engine.host.SandboxHost``, which imports this
    module: the run names the host's part it uses instead of importing it back)."""

    mode: Any
    current: Any
    lost: str | None  # why the sandbox ended under a run (every later run fails fast with it)
    _exits: dict[str, int | None]

    @property
    def alive(self) -> bool: ...

    def exit_status(self, run_id: str, *, timeout: float) -> int | None: ...

    def kill(self, run_id: str) -> None: ...

    def lose(self, reason: str) -> None: ...


SETUP_FAILED = 70  # grader.worker.main.SETUP_FAILED (the worker side is not imported here)
ISOLATION_FAILED = 71  # grader.worker.isolate.ISOLATION_FAILED
SERVING_FAILED = 72  # grader.worker.main.SERVING_FAILED
OUT_OF_MEMORY = 73  # grader.worker.main.OUT_OF_MEMORY
DEFAULT_REPLY_BYTES = 64 * 1024 * 1024  # a request that names no budget
PROGRESS_BYTES = 64 * 1024  # progress messages during training are small headers


def describe_exit(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code == SETUP_FAILED:
        return "it could not start (the sandbox's processes or memory were used up, e.g. by a fork bomb)"
    if code == OUT_OF_MEMORY:
        return "it ran out of memory outside your calls (e.g. while sending back a huge answer)"
    if code == SERVING_FAILED:
        return "the worker failed while serving a request (see the output)"
    if code == ISOLATION_FAILED:
        return "its sandboxed process namespace could not be set up"
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


class WorkerProcess:
    """One sandboxed worker process serving the requests of one run."""

    def __init__(self, *, host: RunHost, run_id: str, fds: list[int], call_timeout_s: float = 30.0):
        self.host, self.run_id = host, run_id
        self.call_timeout_s = call_timeout_s
        requests_fd, responses_fd, out_fd, err_fd, stop_fd = fds
        self._requests = os.fdopen(requests_fd, "wb", buffering=0)
        self._responses_stream = os.fdopen(responses_fd, "rb", buffering=0)
        self._stop = stop_fd
        self._stdout, self._stderr = OutputCapture(), OutputCapture()
        self._responses: Queue = Queue()
        self._reply_limit = DEFAULT_REPLY_BYTES
        self._seq = 0  # numbers the requests; a worker that echoes "seq" lets us spot answers out of turn
        self._finished = False
        self._exit_code: int | None = None
        self.exports: list[str] = []
        self._streams = [self._responses_stream, os.fdopen(out_fd, "rb"),
                         os.fdopen(err_fd, "rb")]
        self._threads = [threading.Thread(target=self._stdout.pump, args=(self._streams[1],), daemon=True),
                         threading.Thread(target=self._stderr.pump, args=(self._streams[2],), daemon=True),
                         threading.Thread(target=self._read_responses, daemon=True)]
        for thread in self._threads:
            thread.start()

    @property
    def mode(self):
        return self.host.mode

    @property
    def alive(self) -> bool:
        return not self._finished and self.host.alive and self.run_id not in self.host._exits

    # -- reading -------------------------------------------------------------
    def _read_responses(self) -> None:
        try:
            while True:
                # The limit is read when an answer starts to arrive: this thread waits for the next answer
                # before the request it answers (and its limit) has been sent.
                self._responses.put(read_message(self._responses_stream, max_blob=lambda: self._reply_limit))
        except (EOFError, OSError, ProtocolError) as error:
            self._responses.put(error)
        except Exception as error:  # noqa: BLE001 - whatever the worker sent, never let this thread die silently
            self._responses.put(ProtocolError(f"{type(error).__name__}: {error}"))

    def _await(self, timeout: float, what: str) -> dict:
        try:
            item = self._responses.get(timeout=timeout)
        except Empty:
            self.kill()
            if self.host.lost is not None:  # the forker did not even answer the kill: the run stopped it
                raise WorkerCrashed(self.host.lost) from None
            raise WorkerTimeout(timeout, what) from None
        if isinstance(item, Exception):
            self.kill()
            if isinstance(item, MessageTooLarge):
                raise WorkerCrashed(f"it answered {what} with {item}; the answer was refused unread")
            if isinstance(item, ProtocolError):
                raise WorkerCrashed(f"it sent a malformed message ({item})")
            code = self.exit_code()
            if self.host.lost is None and not self.host.alive:  # the whole sandbox ended under the run
                self.host.lose(STOPPED_BY_LEARNER)
            if self.host.lost is not None:
                raise WorkerCrashed(self.host.lost)
            raise WorkerCrashed(describe_exit(code))
        return item

    def exit_code(self) -> int | None:
        if self._exit_code is None:
            self._exit_code = self.host.exit_status(self.run_id, timeout=10)
        return self._exit_code

    # -- requests ------------------------------------------------------------
    def send(self, op: str, *, reply_bytes: int | None = None, **payload: Any) -> None:
        if not self.alive:
            raise WorkerCrashed("it is no longer running")
        self._seq += 1
        self._reply_limit = int(reply_bytes or DEFAULT_REPLY_BYTES)
        try:
            write_message(self._requests, Request.from_wire({**payload, "op": op, "seq": self._seq}).to_wire())
        except (BrokenPipeError, OSError):
            self.kill()
            raise WorkerCrashed(describe_exit(self.exit_code())) from None

    def receive(self, *, timeout: float, what: str, on_progress=None) -> Response:
        """Wait for the response to the last request, checked (``grader.messages``); progress messages go to
        ``on_progress``."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                raw = self._await(max(0.01, deadline - time.monotonic()), what)
            except WorkerTimeout:
                raise WorkerTimeout(timeout, what) from None
            try:
                message = reply_from_wire(raw)
            except ProtocolError as error:
                self.kill()
                raise WorkerCrashed(f"it sent a malformed message ({error})") from None
            if isinstance(message, Response):
                if message.seq != self._seq:
                    # e.g. forked copies of the worker (a fork bomb returning into the request loop) each
                    # answering, or a forged reply: every later test would get a stale answer.
                    self.kill()
                    raise WorkerCrashed(f"it answered request {message.seq!r} while request {self._seq} "
                                        "was pending (did your code fork the worker process or write to its "
                                        "channel?)")
                return message
            if on_progress is not None:
                on_progress(message.info)

    def request(self, op: str, *, timeout: float | None = None, what: str = "the call",
                on_progress=None, reply_bytes: int | None = None, **payload: Any) -> Response:
        """Send one request and return its checked response (ok, value, error, builtins)."""
        self.send(op, reply_bytes=reply_bytes, **payload)
        return self.receive(timeout=timeout or self.call_timeout_s, what=what, on_progress=on_progress)

    def value(self, op: str, **payload: Any) -> Any:
        return value_of(self.request(op, **payload))

    def request_stop(self) -> None:
        """Ask a training loop to stop (its task.should_stop() turns True)."""
        try:
            os.write(self._stop, b"s")
        except OSError:
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

    # -- ending --------------------------------------------------------------
    def kill(self) -> None:
        """Idempotent: marked finished before asking, so a host that tears down on failure never asks again."""
        if not self._finished:
            self._finished = True
            self.host.kill(self.run_id)

    def abandon(self) -> None:
        """The sandbox is being torn down under this run: close our ends, ask nothing of the forker."""
        self._finished = True
        self.close()

    def close(self) -> None:
        self.kill()
        for closable in (self._requests,):
            try:
                closable.close()
            except OSError:
                pass
        try:
            os.close(self._stop)
        except OSError:
            pass
        for thread in self._threads:
            thread.join(timeout=1)
        if not any(thread.is_alive() for thread in self._threads):
            for stream in self._streams:
                stream.close()
        if self.host.current is self:
            self.host.current = None

    @property
    def lost(self) -> str | None:
        return self.host.lost
