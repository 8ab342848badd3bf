"""Learner code cannot stop, trace or kill the grader: each run has its own user and PID namespace, its own
Landlock domain with the signal scope, and the forker is not dumpable. Where those layers are missing (here:
switched off), the judge's deadlines end a stopped grader with the learner-facing verdict, never a hang, a kill/close
loop or a "Harness error". Bounds below are generous safety limits (a hang was minutes), not timings."""

from __future__ import annotations

import textwrap
import time

import pytest

from grader.engine.host import STOPPED_BY_LEARNER, SandboxHost
from grader.engine.sandbox import Limits, available_mode
from grader.judge.errors import WorkerCrashed, WorkerProblem

pytestmark = pytest.mark.skipif(available_mode().kind == "none", reason="needs a sandbox (bubblewrap or namespaces)")

LEARNER = textwrap.dedent('''
    import ctypes
    import os
    import signal

    import torch

    libc = ctypes.CDLL(None, use_errno=True)
    PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206


    def signal_parent(number):
        try:
            os.kill(os.getppid(), number)
            return "sent"
        except OSError as error:
            return error.strerror


    def trace_parent(request):
        return libc.ptrace(request, os.getppid(), 0, 0), ctypes.get_errno()


    def signal_everyone(number):
        """kill(-1) from a child: every process this user may signal, but not the grader's."""
        pid = os.fork()
        if pid == 0:
            try:
                os.kill(-1, number)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        return "sent"


    def where():
        return {"pid": os.getpid(), "ppid": os.getppid()}


    def answer():
        return 42


    def sleep(seconds):
        import time

        time.sleep(seconds)


    def huge_answer(gigabytes):
        return torch.empty(int(gigabytes * 2**30), dtype=torch.uint8)  # untouched pages: no real memory used
''')
DEADLINE_S = 60


def _run(host: SandboxHost, timeout: float = 10, limits: Limits = Limits()):
    worker = host.spawn(learner_name="learner.py", limits=limits, threads=1, tracked=[], operators={},
                        call_timeout_s=timeout)
    worker.value("load", source=LEARNER)

    def call(name, *args):
        return worker.value("call", target=name, method=None, args=list(args), kwargs={})

    return worker, call


@pytest.fixture(scope="module")
def host():
    host = SandboxHost(isolation="best", threads=1).start()
    yield host
    host.close()


def test_the_sandbox_says_the_grader_is_out_of_reach(host):
    host.ready()
    assert host.mode.grader.startswith("out of reach"), host.mode.grader
    assert "unrestricted" not in host.mode.filesystem


@pytest.mark.parametrize("number", ["SIGSTOP", "SIGKILL", "SIGTERM", "SIGINT"])
def test_signals_to_the_parent_do_not_reach_the_grader(host, number):
    import signal

    worker, call = _run(host)
    assert call("where") == {"pid": 2, "ppid": 1}  # pid 2 under a reaping init: the forker has no pid here
    call("signal_parent", int(getattr(signal, number)))
    assert call("answer") == 42
    worker.close()
    _, call = _run(host)
    assert call("answer") == 42


@pytest.mark.parametrize("request_", [16, 0x4206], ids=["PTRACE_ATTACH", "PTRACE_SEIZE"])
def test_the_parent_cannot_be_traced(host, request_):
    worker, call = _run(host)
    result, error = call("trace_parent", request_)
    assert result == -1 and error != 0
    assert call("answer") == 42
    worker.close()


def test_kill_minus_one_reaches_only_the_runs_own_processes(host):
    import signal

    worker, call = _run(host, timeout=3)
    with pytest.raises(WorkerProblem):  # SIGSTOP to everyone it may signal: itself included, so its call times out
        call("signal_everyone", int(signal.SIGSTOP))
    started = time.monotonic()
    worker.close()
    _, call = _run(host)  # the forker was not among them: the next run starts at once
    assert call("answer") == 42
    assert time.monotonic() - started < DEADLINE_S


def test_an_answer_too_big_to_send_is_named_and_the_next_run_starts(host):
    """It once ended as "could not start (... a fork bomb)" for this run and was blamed on the next ones."""
    worker, call = _run(host, limits=Limits(memory_mb=4096))
    with pytest.raises(WorkerCrashed, match="ran out of memory outside your calls") as caught:
        call("huge_answer", 2.5)  # fits the limit once; its copy for sending does not
    assert "fork bomb" not in str(caught.value)
    worker.close()
    _, call = _run(host)
    assert call("answer") == 42


def test_the_hard_deadline_tears_the_sandbox_down_and_every_wait_returns():
    from grader.engine.deadline import PASSED, hard_deadline

    with SandboxHost(isolation="best", threads=1) as host:
        worker, call = _run(host, timeout=300)
        started = time.monotonic()
        with hard_deadline(host, 2), pytest.raises(WorkerCrashed) as caught:
            call("sleep", 300)  # a wait the call's own timeout would end only after 5 minutes
        assert str(caught.value).endswith(PASSED) and time.monotonic() - started < DEADLINE_S
        with pytest.raises(WorkerCrashed, match="hard deadline passed"):
            _run(host)
        assert not host.alive


# -- without the layers: the judge's deadlines -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("number", ["SIGSTOP", "SIGKILL"])
def test_an_unprotected_grader_stopped_by_the_run_ends_with_the_learners_verdict(number):
    import signal

    started = time.monotonic()
    with SandboxHost(isolation="best", threads=1, protect_grader=False) as host:
        worker, call = _run(host, timeout=5)
        assert host.mode.grader.startswith("reachable")
        try:
            call("signal_parent", int(getattr(signal, number)))
        except WorkerCrashed as error:  # SIGKILL: the sandbox ends under the call
            assert STOPPED_BY_LEARNER in str(error)
        worker.close()  # the forker cannot answer the kill: the sandbox is torn down, once
        with pytest.raises(WorkerCrashed, match="stopped or killed the test process"):
            _run(host)
        with pytest.raises(WorkerCrashed, match="stopped or killed the test process"):
            _run(host)  # fails fast: no second wait on a stopped forker
        assert host.lost is not None and not host.alive
    assert time.monotonic() - started < DEADLINE_S
