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
from grader.judge.errors import WorkerCrashed

if TYPE_CHECKING:
    from grader.engine.worker_process import WorkerProcess

START_TIMEOUT_S = 90  # importing torch on a busy machine
CONTROL_TIMEOUT_S = 15
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
                 devices: tuple[str, ...] = ()):
        self.isolation, self.threads, self.limits, self.devices = isolation, threads, limits, devices
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

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "SandboxHost":
        """Launch the sandbox; returns before the forker is ready."""
        if self.launched is None:
            self.launched = launch(isolation=self.isolation, limits=self.limits, threads=self.threads,
                                   devices=self.devices)
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
        return self.hello

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None
        launched, self.launched = self.launched, None
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
            launched.process.wait(timeout=10)
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
                self.close()
                raise WorkerCrashed(f"the sandbox did not answer while {what} (within {timeout:g} s)") from None
            if message.get("op") in ops:
                return message
            if message.get("op") in ("gone", "garbage"):
                output = self._output.since(0)[0].strip()[-600:]
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
        """Kill a run and everything it started; if the forker does not oblige, the whole sandbox."""
        with self._lock:
            if not self.alive or run_id in self._exits:
                return
        try:
            self.launched.control.send(json.dumps({"op": "kill", "id": run_id}).encode())
        except OSError:
            self.close()
            return
        deadline = time.monotonic() + CONTROL_TIMEOUT_S
        while time.monotonic() < deadline:
            with self._lock:
                if run_id in self._exits:
                    return
            if not self.alive:
                return
            time.sleep(0.01)
        self.close()

    # -- runs ----------------------------------------------------------------
    def spawn(self, *, learner_name: str, limits: Limits, threads: int, tracked: list[str],
              operators: dict[str, str], call_timeout_s: float) -> "WorkerProcess":
        """A fresh worker process for one run (the previous one, if any, is ended first)."""
        self.ready()
        if self.current is not None:
            self.current.close()
        run_id = str(next(self._ids))
        pipes = [os.pipe() for _ in range(5)]  # requests, responses, stdout, stderr, stop
        theirs = [pipes[0][0], pipes[1][1], pipes[2][1], pipes[3][1], pipes[4][0]]
        ours = [pipes[0][1], pipes[1][0], pipes[2][0], pipes[3][0], pipes[4][1]]
        run = {"id": run_id, "learner_name": learner_name, "threads": threads, "tracked": tracked,
               "operators": operators, "limits": asdict(limits) | {"nproc": count_own_tasks() + limits.processes}}
        try:
            socket.send_fds(self.launched.control, [json.dumps({"op": "spawn", "run": run}).encode()], theirs)
        except OSError as error:
            for fd in theirs + ours:
                os.close(fd)
            self.close()
            raise WorkerCrashed(f"the sandbox could not start a run ({error})") from None
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
        from grader.engine.worker_process import WorkerProcess  # imports torch (the wire format)

        self.current = WorkerProcess(host=self, run_id=run_id, fds=ours, call_timeout_s=call_timeout_s)
        return self.current
