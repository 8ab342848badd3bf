"""The sandbox says what it really applied: ``isolated`` only with a network
namespace and Landlock; a scrubbed environment; limits; and an unisolated mode
that works and says it is unrestricted."""

from __future__ import annotations

import os
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from grader import sandbox
from grader.client import Worker
from grader.confine import landlock_abi
from grader.sandbox import SAFE_ENV, Limits, SandboxMode, TaskCgroup, scrubbed_env

LEARNER = textwrap.dedent('''
    import os
    import resource
    import subprocess


    def environment():
        return dict(os.environ)


    def where():
        return {"cwd": os.getcwd(), "home": os.environ.get("HOME", ""), "uid": os.getuid()}


    def limits():
        return {name: resource.getrlimit(getattr(resource, name))[0]
                for name in ("RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NOFILE", "RLIMIT_CPU", "RLIMIT_CORE")}


    def visible_processes():
        return sum(1 for name in os.listdir("/proc") if name.isdigit())


    def write(path):
        with open(path, "w") as handle:
            handle.write("x")
        return True


    def daemon(seconds):
        process = subprocess.Popen(["sleep", seconds], start_new_session=True)
        return process.pid
''')

FULL_SANDBOX = bool(sandbox.namespace_prefix()) and landlock_abi() >= 1


@pytest.fixture
def learner_file(tmp_path) -> Path:
    path = tmp_path / "probe.py"
    path.write_text(LEARNER)
    return path


def started(learner_file: Path, *, isolate: bool, limits: Limits = Limits()) -> Worker:
    worker = Worker(learner_file=learner_file, tracked=[], limits=limits, isolate=isolate, call_timeout_s=20)
    worker.start()
    worker.value("load")
    return worker


def call(worker: Worker, name: str, *args):
    return worker.value("call", target=name, method=None, args=list(args), kwargs={})


def _sleeping(argument: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            if argv[:2] == [b"sleep", argument.encode()]:
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


# -- the mode is reported honestly -------------------------------------------------------------


@pytest.mark.parametrize("network, filesystem, isolated", [
    ("none (network namespace)", "landlock: writes only in scratch, reads only system and Python paths", True),
    ("unrestricted", "landlock: writes only in scratch, reads only system and Python paths", False),
    ("none (network namespace)", "unrestricted (Landlock unavailable)", False),
    ("none (network namespace)", "unrestricted (landlock error 22)", False),
    ("unrestricted", "unrestricted (disabled)", False),
])
def test_isolated_needs_both_a_network_namespace_and_landlock(network, filesystem, isolated):
    mode = SandboxMode(network=network, filesystem=filesystem)
    assert mode.isolated is isolated
    assert mode.to_dict()["isolated"] is isolated


def test_a_real_worker_reports_what_it_got(learner_file):
    worker = started(learner_file, isolate=True)
    try:
        mode = worker.mode.to_dict()
    finally:
        worker.close()
    assert mode["isolated"] is FULL_SANDBOX
    assert mode["network"].startswith("none") is bool(sandbox.namespace_prefix())
    assert mode["filesystem"].startswith("landlock") is (landlock_abi() >= 1)
    assert mode["tcp"].startswith("blocked") is (landlock_abi() >= 4)
    assert mode["capabilities"] == "dropped"
    assert mode["environment"] == "scrubbed"
    assert mode["limits"]["memory_mb"] == Limits().memory_mb
    if os.geteuid() == 0 and "pids cgroup" not in mode["processes"]:
        assert "no limit on tasks" in mode["processes"]  # root ignores RLIMIT_NPROC: never claim a limit
    else:
        assert "at most" in mode["processes"]


def test_without_a_namespace_the_network_is_not_claimed_to_be_cut(learner_file, monkeypatch):
    monkeypatch.setattr(sandbox, "namespace_prefix", lambda: ())
    worker = started(learner_file, isolate=True)
    try:
        mode = worker.mode.to_dict()
    finally:
        worker.close()
    assert mode["network"] == "unrestricted" and mode["isolated"] is False
    assert mode["processes"].startswith("process group")


def test_unisolated_mode_works_and_says_so(learner_file, tmp_path):
    worker = started(learner_file, isolate=False)
    try:
        mode = worker.mode.to_dict()
        target = tmp_path / "written-by-an-unisolated-worker"
        assert call(worker, "write", str(target)) is True  # nothing stops it: that is what the mode says
        assert call(worker, "environment")["HOME"] == str(worker.scratch)  # the environment is still scrubbed
    finally:
        worker.close()
    assert mode["isolated"] is False
    assert mode["network"] == "unrestricted"
    assert mode["filesystem"].startswith("unrestricted") and mode["tcp"] == "unrestricted"
    assert mode["capabilities"] == "kept"
    assert target.read_text() == "x"


# -- environment, folders, limits ------------------------------------------------------------------


def test_scrubbed_env_keeps_only_what_it_sets(tmp_path, monkeypatch):
    monkeypatch.setenv("CHALLENGE_TEST_SECRET", "xyz")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "xyz")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = scrubbed_env(tmp_path, 3)
    assert "xyz" not in env.values()
    assert env["HOME"] == str(tmp_path) and env["TMPDIR"] == str(tmp_path / "tmp")
    assert env["OMP_NUM_THREADS"] == "3" and env["HF_HUB_OFFLINE"] == "1" and env["LANG"] == "C.UTF-8"
    assert set(env) - set(SAFE_ENV) == {"HOME", "TMPDIR", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED",
                                        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE",
                                        "MPLBACKEND", "PYTHONHASHSEED"}


@pytest.mark.parametrize("isolate", [True, False], ids=["isolated", "unisolated"])
def test_the_worker_sees_only_the_scrubbed_environment_and_its_scratch(learner_file, monkeypatch, isolate):
    monkeypatch.setenv("CHALLENGE_TEST_SECRET", "xyz")
    worker = started(learner_file, isolate=isolate)
    try:
        env, where = call(worker, "environment"), call(worker, "where")
        scratch = worker.scratch
    finally:
        worker.close()
    assert "CHALLENGE_TEST_SECRET" not in env and "xyz" not in env.values()
    assert set(env) <= set(scrubbed_env(scratch, 2)) | {"LC_CTYPE"}
    assert where["cwd"] == str(scratch) and where["home"] == str(scratch)
    assert not scratch.exists()  # removed on close


def test_resource_limits_apply_in_the_worker(learner_file):
    limits = Limits(memory_mb=3000, cpu_s=77, file_size_mb=5, open_files=99)
    worker = started(learner_file, isolate=True, limits=limits)
    try:
        got = call(worker, "limits")
    finally:
        worker.close()
    mb = 1024 * 1024
    assert got == {"RLIMIT_AS": 3000 * mb, "RLIMIT_FSIZE": 5 * mb, "RLIMIT_NOFILE": 99, "RLIMIT_CPU": 77,
                   "RLIMIT_CORE": 0}


@pytest.mark.skipif(not FULL_SANDBOX, reason="needs the PID namespace")
def test_the_worker_sees_no_other_processes(learner_file):
    worker = started(learner_file, isolate=True)
    try:
        count = call(worker, "visible_processes")
        private_proc = "own /proc" in worker.mode.processes
    finally:
        worker.close()
    if private_proc:
        assert count <= 3


# -- processes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("isolate", [True, False], ids=["isolated", "unisolated"])
def test_daemons_die_with_the_worker(learner_file, isolate):
    if not isolate and not _cgroups_available():
        pytest.skip("without a PID namespace only a pids cgroup finds a setsid daemon")
    argument = str(800_000 + int(uuid.uuid4().hex[:5], 16) % 90_000)
    worker = started(learner_file, isolate=isolate)
    try:
        call(worker, "daemon", argument)
        assert _wait_for(lambda: _sleeping(argument))
    finally:
        worker.close()
    leftover = _sleeping(argument)
    for pid in leftover:  # never leave one behind, even when the test fails
        os.kill(pid, 9)
    assert leftover == []


def test_task_cgroup_caps_and_cleans_up():
    cgroup = TaskCgroup.create(5)
    if cgroup is None:
        pytest.skip("no pids cgroup can be created here")
    try:
        assert (cgroup.path / "pids.max").read_text().strip() == "5"
        assert not cgroup.contains(os.getpid())
    finally:
        cgroup.remove()
    assert not cgroup.path.exists()


def _cgroups_available() -> bool:
    cgroup = TaskCgroup.create(1)
    if cgroup is not None:
        cgroup.remove()
    return cgroup is not None


def _wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()

