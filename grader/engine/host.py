"""The judge's handle on a running sandbox: the forker inside it, and the runs it forks.

``SandboxHost.start()`` launches the sandbox and returns at once, so that the
forker imports torch while the judge imports its own (a cold ``challenge test``
pays for one import, not two). ``spawn()`` waits for the forker's hello, then
forks a worker for one run and returns its ``WorkerProcess``. ``challenge
watch`` keeps one host for a whole session: each save costs a fork.

Every way the sandbox can fail ends in a named ``WorkerCrashed``, never a hung
judge; ``close()`` kills everything (the process group, the pids cgroup) and
removes the runtime copy and the fallback's scratch folder.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import threading
import time
from dataclasses import asdict
from pathlib import Path
from queue import Empty, Queue
from typing import TYPE_CHECKING

from grader.engine.capture import OutputCapture
from grader.engine.sandbox import Launched, Limits, SandboxMode, launch
from grader.judge.errors import STOPPED_BY_LEARNER, WorkerCrashed

if TYPE_CHECKING:
    from grader.engine.worker_process import WorkerProcess

START_TIMEOUT_S = 90  # importing torch on a busy machine
CONTROL_TIMEOUT_S = 15
CLOSE_WAIT_S = 10  # for bubblewrap to exit once its process group and cgroup are killed
MAX_CONTROL = 64 * 1024


def count_own_tasks() -> int:
    """Processes and threads of this user: RLIMIT_NPROC counts all of them."""
    uid, count = os.getuid(), 0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    count += len(os.listdir(entry / "task"))
            except OSError:
                continue
    return count


class SandboxHost:
    def __init__(self, *, isolation: str = "best", threads: int = 2, limits: Limits = Limits(),
                 devices: tuple[str, ...] = (), protect_grader: bool = True):
        self.isolation, self.threads, self.limits, self.devices = isolation, threads, limits, devices
        self.protect_grader = protect_grader  # False only where the grader's tests prove its deadlines
        self.launched: Launched | None = None
        self.mode = SandboxMode()
        self.hello: dict | None = None
        self._messages: Queue = Queue()
        self._exits: dict[str, int | None] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._output = OutputCapture()
        self._threads: list[threading.Thread] = []
        self.current: "WorkerProcess | None" = None
        self.lost: str | None = None  # why the sandbox ended under a run: every later run fails fast with it
        self._ran_learner_code = False  # a failure before any run is the sandbox's own, never the learner's

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "SandboxHost":
        """Launch the sandbox; returns before the forker is ready."""
        if self.launched is None:
            self.launched = launch(isolation=self.isolation, limits=self.limits, threads=self.threads,
                                   devices=self.devices, protect_grader=self.protect_grader)
            self.mode = self.launched.mode
            process = self.launched.process
            for stream in (process.stdout, process.stderr):
                self._threads.append(threading.Thread(target=self._output.pump, args=(stream,), daemon=True))
            self._threads.append(threading.Thread(target=self._read_control, daemon=True))
            for thread in self._threads:
                thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self.launched is not None and self.launched.process.poll() is None

    def ready(self) -> dict:
        """Wait for the forker's hello (once); the sandbox's own report goes into ``mode``."""
        self.start()
        if self.hello is None:
            message = self._next(("hello",), START_TIMEOUT_S, "starting the sandbox")
            self.hello = message
            sandbox = message.get("sandbox", {})
            self.mode.filesystem = f"{self.mode.filesystem}; {sandbox.get('filesystem', '')}".strip("; ") \
                if self.mode.kind == "bubblewrap" else sandbox.get("filesystem", self.mode.filesystem)
            self.mode.tcp = sandbox.get("tcp", self.mode.tcp) if self.mode.kind != "bubblewrap" else "no network"
            self.mode.capabilities = sandbox.get("capabilities", self.mode.capabilities)
            if sandbox.get("grader_reach"):
                self.mode.grader = sandbox["grader_reach"]
        return self.hello

    def lose(self, reason: str) -> None:
        """End the whole sandbox because it stopped answering under a run; later runs fail with ``reason``."""
        if self.lost is None:
            self.lost = reason
        self.close()

    def _stopped(self, what: str) -> str:
        """Why the sandbox failed, in the learner's terms once their code has run in it."""
        if self._ran_learner_code:
            return STOPPED_BY_LEARNER
        return f"the sandbox did not answer while {what}"

    def close(self) -> None:
        """Kill everything (idempotent, bounded: it never asks the forker anything, so it never waits on it)."""
        current, self.current = self.current, None
        launched, self.launched = self.launched, None
        if current is not None:
            current.abandon()  # its run dies with the sandbox below: no kill request to a forker that may be stopped
        if launched is None:
            return
        try:
            launched.control.close()  # the forker sees EOF and ends; the kill below does not wait for it
        except OSError:
            pass
        try:
            os.killpg(launched.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if launched.cgroup is not None:
            launched.cgroup.remove()  # also what left the process group (setsid) where there is no PID namespace
        try:
            launched.process.wait(timeout=CLOSE_WAIT_S)
        except Exception:  # noqa: BLE001
            pass
        for thread in self._threads:
            thread.join(timeout=1)
        for stream in (launched.process.stdout, launched.process.stderr):
            try:
                stream.close()
            except OSError:
                pass
        shutil.rmtree(launched.runtime, ignore_errors=True)
        if launched.host_scratch is not None:
            shutil.rmtree(launched.host_scratch, ignore_errors=True)

    def __enter__(self) -> "SandboxHost":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- control channel -----------------------------------------------------
    def _read_control(self) -> None:
        control = self.launched.control
        while True:
            try:
                data = control.recv(MAX_CONTROL)
            except OSError:
                data = b""
            if not data:
                self._messages.put({"op": "gone"})
                return
            try:
                message = json.loads(data)
                if not isinstance(message, dict):
                    raise ValueError("not an object")
            except (ValueError, RecursionError):
                message = {"op": "garbage"}
            if message.get("op") == "exited":
                with self._lock:
                    self._exits[str(message.get("id"))] = message.get("status")
            self._messages.put(message)

    def _next(self, ops: tuple[str, ...], timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except Empty:
                reason = self._stopped(what)
                self.lose(reason)
                raise WorkerCrashed(reason if self._ran_learner_code else f"{reason} (within {timeout:g} s)") \
                    from None
            if message.get("op") in ops:
                return message
            if message.get("op") in ("gone", "garbage"):
                output = self._output.since(0)[0].strip()[-600:]
                if self._ran_learner_code:
                    self.lose(STOPPED_BY_LEARNER)
                    raise WorkerCrashed(STOPPED_BY_LEARNER)
                self.close()
                raise WorkerCrashed(f"the sandbox stopped while {what}" + (f": {output}" if output else ""))

    def exit_status(self, run_id: str, timeout: float) -> int | None:
        """How the run's worker process exited (after it has), as the forker saw it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if run_id in self._exits:
                    return self._exits[run_id]
            if not self.alive:
                return None
            time.sleep(0.01)
        return None

    def kill(self, run_id: str) -> None:
        """Kill a run and everything it started; if the forker does not oblige in time, the whole sandbox.

        Bounded: one request, one wait of at most CONTROL_TIMEOUT_S, then ``lose`` (which never waits on the
        forker). Never called again for the same run by what it calls."""
        launched = self.launched
        with self._lock:
            if launched is None or launched.process.poll() is not None or run_id in self._exits:
                return
        try:
            launched.control.send(json.dumps({"op": "kill", "id": run_id}).encode())
        except OSError:
            self.lose(STOPPED_BY_LEARNER)
            return
        deadline = time.monotonic() + CONTROL_TIMEOUT_S
        while time.monotonic() < deadline:
            with self._lock:
                if run_id in self._exits:
                    return
            if self.launched is not launched or launched.process.poll() is not None:
                return
            time.sleep(0.01)
        self.lose(STOPPED_BY_LEARNER)

    # -- runs ----------------------------------------------------------------
    def spawn(self, *, learner_name: str, limits: Limits, threads: int, tracked: list[str],
              operators: dict[str, str], call_timeout_s: float) -> "WorkerProcess":
        """A fresh worker process for one run (the previous one, if any, is ended first)."""
        if self.lost is not None:
            raise WorkerCrashed(self.lost)
        self.ready()
        if self.current is not None:
            self.current.close()
        if self.lost is None and not self.alive:  # ended between runs (e.g. the last run killed the forker)
            self.lose(self._stopped("starting a run"))
        if self.lost is not None or self.launched is None:
            raise WorkerCrashed(self.lost or self._stopped("starting a run"))
        run_id = str(next(self._ids))
        pipes = [os.pipe() for _ in range(5)]  # requests, responses, stdout, stderr, stop
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1], pipes[4][0]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0], pipes[4][1]]
        run = {"id": run_id, "learner_name": learner_name, "threads": threads, "tracked": tracked,
               "operators": operators, "limits": asdict(limits) | {"nproc": count_own_tasks() + limits.processes}}
        try:
            socket.send_fds(self.launched.control, [json.dumps({"op": "spawn", "run": run}).encode()], theirs)
        except OSError as error:
            for fd in ours:
                os.close(fd)
            reason = self._stopped("starting a run")
            self.lose(reason)
            raise WorkerCrashed(reason if self._ran_learner_code else f"{reason} ({error})") from None
        finally:
            for fd in theirs:
                try:
                    os.close(fd)
                except OSError:
                    pass
        try:
            self._next(("spawned",), CONTROL_TIMEOUT_S, "starting a run")
        except WorkerCrashed:
            for fd in ours:
                os.close(fd)
            raise
        self._ran_learner_code = True  # from here on, the run may import and run the learner's code
        from grader.engine.worker_process import WorkerProcess  # imports torch (the wire format)

        self.current = WorkerProcess(host=self, run_id=run_id, fds=ours, call_timeout_s=call_timeout_s)
        return self.current
