"""The sandboxed worker: a forker that stays warm, and one forked process per run.

The judge starts this inside the sandbox once (per ``challenge test``, or for a
whole ``challenge watch`` session). The forker imports torch and the worker
modules, makes itself undumpable, probes once what a run gets, says hello,
and then never runs a torch op and never imports learner code: it only forks.
For each run the judge sends a ``spawn`` on the control socket with the run's
pipes attached; the forked child makes the run's own user and PID namespace
(``grader.worker.isolate``: the grader's processes are out of the run's
reach), confines itself (Landlock, capabilities), applies the run's limits, sets its thread count,
loads the learner's source (the first request) and answers requests until the
judge is done. When the child ends, the forker kills everything the run left
behind (daemons, double forks), empties the scratch folders and tells the judge
how the child exited. No learner state survives between runs.

Why fork from a process that ran no op: torch's thread pools are created on
first use, so the child starts them itself with its own thread count.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import os
import resource
import select
import shutil
import signal
import socket
import sys
import time
import traceback
from pathlib import Path

from grader.protocol import read_message, write_message
from grader.worker.confine import apply_landlock, drop_capabilities
from grader.worker.isolate import make_undumpable, probe, run_in_namespace

MAX_CONTROL = 64 * 1024
REAP_S = 10.0  # how long the forker waits for a finished run's processes to die
SETUP_FAILED = 70  # a forked worker's exit status when it could not even start serving its run
SERVING_FAILED = 72  # ... when the worker itself failed while serving (the error is on its stderr)
OUT_OF_MEMORY = 73  # ... when the worker ran out of memory outside the learner's calls (e.g. sending a huge answer)
_SERVING = [False]  # in a run's worker: whether it got as far as serving requests
PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


# -- the child: one run ----------------------------------------------------------------------------


def _apply_limits(limits: dict) -> None:
    mb = 1024 * 1024
    memory = limits["memory_mb"] * mb if limits.get("memory_mb") else resource.RLIM_INFINITY  # CUDA: 0
    pairs = [(resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb),
             (resource.RLIMIT_NOFILE, limits["open_files"]), (resource.RLIMIT_CPU, limits["cpu_s"]),
             (resource.RLIMIT_CORE, 0)]
    for which, value in pairs:
        try:
            _, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value if which != resource.RLIMIT_CPU else value + 5))
        except (ValueError, OSError):
            pass


def _detach_protocol(*fds: int) -> None:
    """In a process forked by learner code: cut it off from the judge's channels."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        try:
            os.dup2(null, fd)
        except OSError:
            pass
    os.close(null)


def run_child(run: dict, fds: list[int], scratch: Path) -> None:
    """Serve one run; never returns (os._exit), so nothing of the forker's loop runs in the child."""
    requests_fd, responses_fd, out_fd, err_fd, stop_fd = fds
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    for fd in (out_fd, err_fd):
        os.close(fd)
    os.setsid()  # own process group: the fallback sandbox kills runs by group
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(run["threads"])
    _apply_limits(run["limits"])
    folder = scratch / f"run-{run['id']}"
    folder.mkdir(mode=0o700)
    os.chdir(folder)
    import torch

    from grader.worker.ops import LearnerHost
    from grader.worker.record import BuiltinRecord

    torch.set_num_threads(int(run["threads"]))
    requests = os.fdopen(requests_fd, "rb", buffering=0)
    responses = os.fdopen(responses_fd, "wb", buffering=0)
    owner = os.getpid()
    os.register_at_fork(after_in_child=lambda: _detach_protocol(requests_fd, responses_fd, stop_fd))

    def stop_requested() -> bool:
        return bool(select.select([stop_fd], [], [], 0)[0])

    host = LearnerHost(learner_path=folder / run["learner_name"], responses=responses, stop_requested=stop_requested,
                       record=BuiltinRecord(run.get("tracked", []), run.get("operators", {})))
    _SERVING[0] = True
    while True:
        try:
            request = read_message(requests)
        except (EOFError, OSError):
            break
        if request.get("op") == "exit":
            break
        response = host.dispatch(request)
        if os.getpid() != owner:  # a fork of the learner's returned here: only the worker itself answers
            os._exit(0)
        response["seq"] = request.get("seq")
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            write_message(responses, response)
        except OSError:
            break
    os._exit(0)


# -- the forker ------------------------------------------------------------------------------------


class Forker:
    def __init__(self, control: socket.socket, config: dict):
        self.control = control
        self.config = config
        self.scratch = Path(config["scratch"])
        self.own_pid_namespace = bool(config.get("own_pid_namespace"))
        self.child: tuple[int, int, str] | None = None  # (pid, pidfd, run id)

    def send(self, message: dict) -> None:
        self.control.send(json.dumps(message).encode())

    def serve(self) -> None:
        while True:
            watched = [self.control] + ([self.child[1]] if self.child else [])
            ready, _, _ = select.select(watched, [], [])
            if self.child and self.child[1] in ready:
                self.finish_child()
            if self.control in ready:
                try:
                    data, fds, _, _ = socket.recv_fds(self.control, MAX_CONTROL, 8)
                except OSError:
                    return
                if not data:
                    return  # the judge has gone
                message = json.loads(data)
                if message.get("op") == "spawn":
                    self.spawn(message["run"], fds)
                elif message.get("op") == "kill":
                    for fd in fds:
                        os.close(fd)
                    if self.child and self.child[2] == message.get("id"):
                        self.kill_run()

    def spawn(self, run: dict, fds: list[int]) -> None:
        if self.child is not None:  # one run at a time: a new one ends the old one
            self.kill_run()
            self.finish_child()
        if len(fds) != 5:
            for fd in fds:
                os.close(fd)
            self.send({"op": "refused", "id": run.get("id"), "reason": "expected 5 descriptors"})
            return
        pid = os.fork()
        if pid == 0:
            try:
                self.control.close()

                def serve() -> None:
                    try:
                        _confine(self.config)  # the run's own Landlock domain: its signal scope ends at the run
                        run_child(run, fds, self.scratch)
                    except MemoryError:
                        os._exit(OUT_OF_MEMORY)
                    except BaseException as error:  # noqa: BLE001 - named by the exit status, told on stderr
                        if "allocate memory" in str(error):  # torch's allocator raises RuntimeError
                            os._exit(OUT_OF_MEMORY)
                        traceback.print_exc()
                        os._exit(SERVING_FAILED if _SERVING[0] else SETUP_FAILED)

                if self.config.get("run_namespace"):
                    run_in_namespace(serve, failed=SETUP_FAILED)
                serve()
            finally:
                os._exit(SETUP_FAILED)
        for fd in fds:
            os.close(fd)
        self.child = (pid, os.pidfd_open(pid), str(run["id"]))
        self.send({"op": "spawned", "id": run["id"], "pid": pid})

    def kill_run(self) -> None:
        """SIGKILL the run and everything it started."""
        if self.child is None:
            return
        if self.own_pid_namespace:
            _kill_everyone_else()
        else:
            for target in (lambda: os.killpg(self.child[0], signal.SIGKILL), lambda: os.kill(self.child[0], 9)):
                try:
                    target()
                except (ProcessLookupError, PermissionError):
                    pass

    def finish_child(self) -> None:
        pid, pidfd, run_id = self.child
        _, status = os.waitpid(pid, 0)
        os.close(pidfd)
        self.child = None
        self.kill_run_leftovers()
        self.send({"op": "exited", "id": run_id, "status": os.waitstatus_to_exitcode(status)})

    def kill_run_leftovers(self) -> None:
        if self.own_pid_namespace:
            _kill_everyone_else()
        # Reap what we inherited as subreaper; in our own namespace, wait until the killed are gone, so that
        # the next run does not find its task budget (the pids cgroup) still held by the last one's processes.
        deadline = time.monotonic() + REAP_S
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                if not self.own_pid_namespace or time.monotonic() > deadline:
                    break
                time.sleep(0.005)
        for folder in self.config.get("wipe", []):
            _empty(Path(folder))
        _empty(self.scratch)


def _kill_everyone_else() -> None:
    """SIGKILL every process of this PID namespace but us and its init (only ever inside one of our own)."""
    try:
        os.kill(-1, signal.SIGKILL)
    except ProcessLookupError:
        pass  # nobody else is left


def _empty(folder: Path) -> None:
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            try:
                entry.unlink()
            except OSError:
                pass


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _confine(config: dict) -> dict:
    if not config.get("confine"):
        return {"filesystem": "unrestricted (disabled)", "tcp": "unrestricted", "capabilities": "kept"}
    info = apply_landlock(read_paths=[Path(p) for p in config["read_paths"]],
                          write_paths=[Path(p) for p in config["write_paths"]],
                          write_files=[Path(p) for p in config["write_files"]],
                          scope=config.get("protect_grader", True))
    info["capabilities"] = "dropped" if drop_capabilities() else "kept"
    return info


def _protect_forker(config: dict) -> dict:
    """Put the forker out of the runs' reach; returns what each run gets (probed once, in a run of its own).

    The forker itself stays unconfined by Landlock: each run's worker makes its own domain (so that the
    domain's signal scope leaves the forker outside) after its namespace is set up, which needs /proc."""
    protect = config.get("protect_grader", True)  # False only in the grader's own tests of its deadlines
    dumpable = not (protect and make_undumpable())
    # The forker keeps what capabilities it has (the fallback's user namespace gives it some): a run's namespace
    # maps uid 0 only where its maker could set file capabilities; each run's worker drops them all.
    wanted = bool(config.get("confine") and protect)
    sandbox = probe(lambda: _confine(config), isolated=True) if wanted else {}
    config["run_namespace"] = bool(sandbox.get("run_namespace"))
    if not config["run_namespace"]:
        sandbox = probe(lambda: _confine(config), isolated=False) | {"run_namespace": False}
    if config["run_namespace"]:
        sandbox["grader_reach"] = ("out of reach: each run has its own user and PID namespace; "
                                   "the grader's processes cannot be signalled or traced from it")
    elif sandbox.get("scoped") and not dumpable:
        sandbox["grader_reach"] = "signals scoped by Landlock; the forker cannot be traced (not dumpable)"
    else:
        sandbox["grader_reach"] = ("reachable: runs share the forker's PID namespace; a stopped grader is ended "
                                   "by the judge's deadlines")
    return sandbox


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="challenge sandboxed worker (started by the judge)")
    parser.add_argument("--control-fd", type=int, required=True)
    parser.add_argument("--config", required=True, help="JSON: scratch, confinement, namespace")
    args = parser.parse_args(argv)
    config = json.loads(args.config)
    control = socket.socket(fileno=args.control_fd)
    _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # daemons of a run become ours to kill and reap
    import torch  # imported once, before confinement; no op runs here

    import grader.worker.ops  # noqa: F401 - warm: every run's child finds these imported
    import grader.worker.training_task  # noqa: F401

    Path(config["scratch"]).mkdir(parents=True, exist_ok=True)
    if config.get("own_pid_namespace") and _pid_namespace() == config.get("judge_pid_namespace"):
        config["own_pid_namespace"] = False  # never kill(-1) outside a namespace of our own: it would reach the host
    sandbox = _protect_forker(config)
    forker = Forker(control, config)
    forker.send({"op": "hello", "sandbox": sandbox, "torch": torch.__version__, "pid": os.getpid()})
    forker.serve()


if __name__ == "__main__":
    main()
