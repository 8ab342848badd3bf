"""Each run in a user and PID namespace of its own, out of reach of the grader's processes.

Learner code runs as the same user as the forker, its parent, and a kernel
without Yama lets a process signal or trace any other process of its user: one
``os.kill(os.getppid(), signal.SIGSTOP)`` or a ptrace attach used to hang the
judge. Three layers, none of which needs Yama or privileges:

- the forker is not dumpable (``PR_SET_DUMPABLE`` 0): tracing it, or reading
  its ``/proc/<pid>/mem``, ``environ`` or ``fd``, needs ``CAP_SYS_PTRACE`` in
  the sandbox's user namespace, which nothing in a run has;
- each run lives in a fresh user and PID namespace: its init (pid 1, a fork of
  the forker that only reaps) and the worker (pid 2). The grader's processes
  have no pid there, so kill, ptrace, ``pidfd_open`` and ``F_SETOWN`` cannot
  name them; ``kill(-1)`` reaches only the run's own processes; the kernel
  drops SIGKILL and SIGSTOP sent to init from inside, and init keeps no handler
  for any other signal; a pidfd made from ``/proc/<pid>`` of an outer process
  is refused (not in the caller's namespace). When init exits (the worker
  ended, or the forker killed it), the kernel kills everything left in the
  namespace: nothing of a run outlives it;
- the worker's own Landlock domain, with the signal scope (ABI >= 6), refuses
  signals to every process outside the run (``grader.worker.confine``).

Where user namespaces cannot be nested (a kernel or container that forbids
them), runs are forked as before and the sandbox's description says so; the
judge's deadlines then end a stopped grader with a verdict (``grader.engine.host``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
from typing import Callable, NoReturn

CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE = 1, 4
ISOLATION_FAILED = 71  # a run's exit status when its namespace could not be made
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def make_undumpable() -> bool:
    """Nothing without CAP_SYS_PTRACE in our user namespace may trace this process or read its memory."""
    return _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def enter_run_namespace() -> None:
    """Unshare a user and PID namespace (the next fork is its init), mapping our own ids only."""
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER | CLONE_NEWPID) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"unshare(CLONE_NEWUSER | CLONE_NEWPID): {os.strerror(error)}")
    _write("/proc/self/uid_map", f"{uid} {uid} 1")
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/gid_map", f"{gid} {gid} 1")


def _exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code  # a signal, as a shell reports it: describe_exit reads both


def _wait_for(pid: int) -> NoReturn:
    """Reap every child (orphans of the run come to init) until ``pid`` exits; exit with its status."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(ISOLATION_FAILED)
        except InterruptedError:
            continue
        if reaped == pid:
            os._exit(_exit_code(status))


def _defaults_for_init() -> None:
    """No handler for any signal: the kernel then ignores every signal sent to init from inside the run."""
    for number in range(1, signal.NSIG):
        if number in (signal.SIGKILL, signal.SIGSTOP, signal.SIGCHLD):
            continue
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):
            pass


def run_in_namespace(body: Callable[[], None], *, failed: int) -> NoReturn:
    """In a child of the forker: run ``body`` as pid 2 of a new PID namespace; exit with its status.

    Three processes: this one (outside, waits for init, so the forker keeps one child per run),
    init (pid 1, reaps) and the worker (pid 2, runs ``body``). Never returns.
    """
    try:
        enter_run_namespace()
    except OSError as error:
        print(f"the run's namespace could not be made: {error}", flush=True)
        os._exit(ISOLATION_FAILED)
    init = os.fork()
    if init:
        _wait_for(init)
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # the forker killed our parent: the run ends
        worker = os.fork()
        if worker == 0:
            try:
                _libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # the worker is the learner's own: /proc/self as usual
                body()  # with Python's usual signal handling (SIGPIPE ignored, SIGINT a KeyboardInterrupt)
            finally:
                os._exit(failed)
        _defaults_for_init()  # after the fork: learner code runs only once the worker has loaded it
        _wait_for(worker)
    finally:
        os._exit(ISOLATION_FAILED)


def probe(confine: Callable[[], dict], *, isolated: bool) -> dict:
    """What a run gets here: fork once, make the namespace (``isolated``), confine, and report; {} where that
    failed. The forker itself stays as it was."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)

        def report() -> None:
            import json

            info = confine()
            info["run_namespace"] = isolated and os.getppid() == 1 and os.getpid() == 2
            os.write(write_end, json.dumps(info).encode())
            os._exit(0)

        try:
            if isolated:
                run_in_namespace(report, failed=ISOLATION_FAILED)
            report()
        finally:
            os._exit(ISOLATION_FAILED)
    os.close(write_end)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    os.waitpid(pid, 0)
    if not chunks:
        return {}
    import json

    return json.loads(b"".join(chunks))
