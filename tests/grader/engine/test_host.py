"""The warm sandbox: one forker, a fresh worker per run. A run that hangs, crashes,
forks or leaves things behind never harms the forker or the next run, nothing
of a run survives into the next, and nothing outlives the judge, even under SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from grader.engine.host import SandboxHost
from grader.engine.sandbox import Limits
from grader.judge.errors import LearnerException, WorkerCrashed, WorkerTimeout

LEARNER = textwrap.dedent('''
    import os
    import time

    import torch

    STATE = {"calls": 0}


    def remember():
        STATE["calls"] += 1
        with open("/tmp/left-behind", "w") as handle:
            handle.write("x")
        return STATE["calls"]


    def leftovers():
        return {"calls": STATE["calls"], "tmp": sorted(os.listdir(os.environ["TMPDIR"])),
                "scratch": sorted(os.listdir(".."))}


    def work(n):
        return (torch.ones(n, n) @ torch.ones(n, n)).sum().item()


    def hang():
        while True:
            pass


    def crash():
        os.kill(os.getpid(), 11)


    def fork_and_linger():
        if os.fork() == 0:
            os.setsid()
            time.sleep(1000)
            os._exit(0)
        return True


    def forks_into_the_loop():
        os.fork()  # both copies return: only the worker itself may answer
        return os.getpid()


    def threads():
        return torch.get_num_threads()


    def interrupt_myself():
        raise KeyboardInterrupt
''')


@pytest.fixture(scope="module")
def host():
    host = SandboxHost(isolation="best").start()
    yield host
    host.close()


def run(host: SandboxHost, *, threads: int = 2, timeout: float = 20):
    worker = host.spawn(learner_name="learner.py", limits=Limits(), threads=threads, tracked=[], operators={},
                        call_timeout_s=timeout)
    worker.value("load", source=LEARNER)

    def call(name, *args):
        return worker.value("call", target=name, method=None, args=list(args), kwargs={})

    return worker, call


def test_nothing_of_a_run_survives_into_the_next(host):
    worker, call = run(host)
    assert call("remember") == 1 and call("remember") == 2
    worker.close()
    _, call = run(host)
    assert call("leftovers") == {"calls": 0, "tmp": [], "scratch": [call("leftovers")["scratch"][0]]}


def test_each_run_sets_its_own_thread_count(host):
    for threads in (1, 2):
        worker, call = run(host, threads=threads)
        assert call("threads") == threads
        assert call("work", 64) == 64.0**3
        worker.close()


def test_a_hanging_run_times_out_and_the_next_one_works(host):
    worker, call = run(host, timeout=2)
    with pytest.raises(WorkerTimeout):
        call("hang")
    assert not worker.alive
    _, call = run(host)
    assert call("work", 8) == 512.0


def test_a_crashing_run_is_named_and_the_next_one_works(host):
    _, call = run(host)
    with pytest.raises(WorkerCrashed, match="segmentation fault"):
        call("crash")
    _, call = run(host)
    assert call("work", 8) == 512.0


def test_a_run_that_forks_cannot_answer_twice_or_leave_a_process(host):
    worker, call = run(host)
    assert call("forks_into_the_loop") > 0
    assert call("work", 4) == 64.0  # the copy's answer did not take the place of this one
    assert call("fork_and_linger") is True
    worker.close()
    _, call = run(host)
    assert call("leftovers")["calls"] == 0
    assert host.alive


def test_keyboard_interrupt_raised_by_learner_code_is_the_learners_error(host):
    _, call = run(host)
    with pytest.raises(LearnerException, match="KeyboardInterrupt: raised by your code"):
        call("interrupt_myself")
    assert call("work", 2) == 8.0  # the worker lives on


def test_a_warm_run_costs_a_fork_not_an_interpreter(host):
    run(host)[0].close()  # warm
    started = time.monotonic()
    worker, call = run(host)
    call("work", 2)
    worker.close()
    assert time.monotonic() - started < 20  # generous on a busy machine; bench/ measures the real figure


JUDGE = textwrap.dedent('''
    import sys, time
    from pathlib import Path
    from grader.engine.host import SandboxHost
    from grader.engine.sandbox import Limits
    host = SandboxHost(isolation="best").start()
    worker = host.spawn(learner_name="l.py", limits=Limits(), threads=1, tracked=[], operators={}, call_timeout_s=600)
    worker.value("load", source="def hang():\\n    while True:\\n        pass\\n")
    print(host.launched.runtime, host.launched.cgroup.path if host.launched.cgroup else "", flush=True)
    worker.send("call", target="hang", method=None, args=[], kwargs={})
    time.sleep(600)
''')


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_nothing_outlives_a_killed_judge(sig):
    judge = subprocess.Popen([sys.executable, "-c", JUDGE], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[3])
    runtime, _, cgroup = judge.stdout.readline().strip().partition(" ")
    assert runtime, "the judge did not start its sandbox"
    if not cgroup:
        judge.kill()
        pytest.skip("needs a pids cgroup to find every process of the sandbox, wherever it was reparented")
    procs = Path(cgroup) / "cgroup.procs"
    time.sleep(1.0)  # the learner's code is spinning now
    assert procs.read_text().split(), "the sandbox is not running"
    judge.send_signal(sig)
    judge.wait(timeout=30)
    deadline = time.monotonic() + 15
    while procs.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [int(pid) for pid in procs.read_text().split()] + _processes_with(runtime)
    for pid in left:  # never leave one behind, even when the test fails
        os.kill(pid, signal.SIGKILL)
    for _ in range(50):
        try:
            Path(cgroup).rmdir()
            break
        except OSError:
            time.sleep(0.05)
    assert left == []


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found
