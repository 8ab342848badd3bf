"""The sandbox is built from what is mounted, and says honestly what it enforced.

Each test here runs a probe file in a real worker (no hidden tests): what the
worker can see, reach and do, in the strong sandbox (bubblewrap) where this
machine can start it, in the fallback, and with no sandbox at all.
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from grader.engine import sandbox, world
from grader.engine.cgroup import TaskCgroup
from grader.engine.host import SandboxHost
from grader.engine.sandbox import Limits, SandboxMode

PROBE = textwrap.dedent('''
    import os
    import resource
    import socket
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


    def exists(path):
        return os.path.exists(path)


    def read(path):
        with open(path, "rb") as handle:
            return handle.read(64).decode(errors="replace")


    def write(path):
        with open(path, "w") as handle:
            handle.write("x")
        return True


    def listing(path):
        return sorted(os.listdir(path))


    def connect_unix(path):
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.settimeout(3)
        client.connect(path)
        client.sendall(b"escaped")
        return True


    def connect_tcp(port):
        client = socket.create_connection(("127.0.0.1", port), timeout=3)
        client.sendall(b"escaped")
        return True


    def daemon(seconds):
        process = subprocess.Popen(["sleep", seconds], start_new_session=True)
        return process.pid
''')

STRONG = bool(sandbox.bubblewrap_prefix())
FALLBACK = bool(sandbox.namespace_prefix())
needs_strong = pytest.mark.skipif(not STRONG, reason="bubblewrap cannot start on this machine")


class Probe:
    """A worker with the probe loaded, in a sandbox of the given isolation (or forked from ``host``)."""

    def __init__(self, isolation: str, limits: Limits = Limits(), host: SandboxHost | None = None):
        self.own_host = host is None
        self.host = host or SandboxHost(isolation=isolation, limits=limits).start()
        self.worker = self.host.spawn(learner_name="probe.py", limits=limits, threads=2, tracked=[], operators={},
                                      call_timeout_s=20)
        self.worker.value("load", source=PROBE)

    def __call__(self, name: str, *args):
        return self.worker.value("call", target=name, method=None, args=list(args), kwargs={})

    def fails(self, name: str, *args) -> str:
        """The error message of a call that must fail."""
        from grader.judge.errors import LearnerException

        with pytest.raises(LearnerException) as caught:
            self(name, *args)
        return caught.value.message

    def close(self) -> None:
        if self.own_host:
            self.host.close()
        else:
            self.worker.close()


@pytest.fixture(scope="module")
def strong_host():
    """One strong sandbox for the module; each test forks a fresh worker from it, as `challenge test` does."""
    if not STRONG:
        pytest.skip("bubblewrap cannot start on this machine")
    host = SandboxHost(isolation="strong", limits=Limits()).start()
    yield host
    host.close()


@pytest.fixture
def strong(strong_host):
    probe = Probe("strong", host=strong_host)
    yield probe
    probe.close()


# -- the mode is reported honestly -------------------------------------------------------------


@pytest.mark.parametrize("kind, network, isolated", [
    ("bubblewrap", "none (network namespace)", True),
    ("namespaces", "none (network namespace)", False),
    ("none", "unrestricted", False),
    ("bubblewrap", "unrestricted", False),
])
def test_only_the_strong_sandbox_counts_as_isolated(kind, network, isolated):
    mode = SandboxMode(kind=kind, network=network)
    assert mode.isolated is isolated
    assert mode.to_dict()["isolated"] is isolated


def test_a_real_worker_reports_what_it_got():
    probe = Probe("best")
    try:
        mode = probe.worker.mode.to_dict()
    finally:
        probe.close()
    assert mode["kind"] == ("bubblewrap" if STRONG else "namespaces" if FALLBACK else "none")
    assert mode["isolated"] is STRONG
    assert mode["capabilities"] == "dropped"
    assert mode["environment"] == "scrubbed"
    if os.geteuid() == 0 and "pids cgroup" not in mode["processes"]:
        assert "no limit on tasks" in mode["processes"]  # root ignores RLIMIT_NPROC: never claim a limit


def test_strong_isolation_is_refused_where_bubblewrap_cannot_start(monkeypatch):
    from grader.api import IsolationUnavailable

    monkeypatch.setattr(sandbox, "bubblewrap_prefix", lambda: ())
    with pytest.raises(IsolationUnavailable):
        SandboxHost(isolation="strong").start()
    assert sandbox.available_mode().isolated is False


def test_without_any_sandbox_the_mode_says_so(tmp_path):
    probe = Probe("off")
    try:
        mode = probe.worker.mode.to_dict()
        target = tmp_path / "written-by-an-unsandboxed-worker"
        assert probe("write", str(target)) is True  # nothing stops it: that is what the mode says
        assert "CHALLENGE_TEST_SECRET" not in probe("environment")  # the environment is still scrubbed
    finally:
        probe.close()
    assert mode["kind"] == "none" and mode["isolated"] is False and mode["network"] == "unrestricted"
    assert target.read_text() == "x"


# -- what the strong sandbox's world holds ----------------------------------------------------------


@needs_strong
def test_the_world_holds_only_what_was_mounted(strong):
    root = strong("listing", "/")
    assert not {"home", "root", "run", "media", "mnt", "srv", "var", "boot", "work"} & set(root), root
    assert strong("listing", "/tmp") == [] and strong("listing", "/dev/shm") == []
    assert set(strong("listing", "/etc")) <= {Path(p).name for p in world.ETC_FILES}
    assert not strong("exists", "/dev/pts/0") and not strong("exists", "/root/.bashrc")
    assert set(strong("listing", "/opt/challenge/grader")) <= {*world.WORKER_FILES, "worker"}


@needs_strong
def test_the_harness_packages_references_and_hidden_tests_are_not_there(strong):
    repo = Path(__file__).resolve().parents[3]
    for path in (repo / "milestones" / "01_attention" / "reference.py", repo / "grader" / "hidden",
                 repo / "grader" / "judge", repo / "challenge"):
        assert not strong("exists", str(path)), path
    for _, inside in world.PythonInSandbox.here().sites:
        assert not {"challenge", "milestones", "grader"} & set(strong("listing", inside))


@needs_strong
def test_private_files_of_the_host_stay_unread(strong, tmp_path):
    secret = tmp_path / "private-key"
    secret.write_text("secret " + uuid.uuid4().hex)
    assert "FileNotFoundError" in strong.fails("read", str(secret))
    assert "FileNotFoundError" in strong.fails("read", "/etc/shadow")
    assert "FileNotFoundError" in strong.fails("read", "/etc/passwd")


@needs_strong
def test_unix_sockets_of_the_host_receive_nothing(strong, tmp_path):
    path = Path("/tmp") / f"challenge-listener-{uuid.uuid4().hex[:8]}.sock"  # the host's /tmp, as tmux's socket
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()
    listener.settimeout(0.2)
    received = []
    done = threading.Event()

    def accept() -> None:
        end = time.monotonic() + 6
        while time.monotonic() < end and not done.is_set():
            try:
                connection, _ = listener.accept()
                received.append(connection.recv(100))
            except OSError:
                continue

    thread = threading.Thread(target=accept)
    thread.start()
    try:
        assert "FileNotFoundError" in strong.fails("connect_unix", str(path))
        assert "FileNotFoundError" in strong.fails("connect_unix", "/run/dbus/system_bus_socket")
        done.set()  # both calls have returned: a connection would already be waiting in the backlog
        thread.join()
        listener.settimeout(0)
        try:
            received.append(listener.accept()[0].recv(100))
        except OSError:  # nothing waiting: the sandbox reached no socket
            pass
    finally:
        listener.close()
        path.unlink(missing_ok=True)
    assert received == []


@needs_strong
def test_the_network_is_unreachable(strong):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    try:
        message = strong.fails("connect_tcp", server.getsockname()[1])
        assert "ConnectionRefusedError" in message or "unreachable" in message or "PermissionError" in message
        with pytest.raises(BlockingIOError):
            server.accept()
    finally:
        server.close()


@needs_strong
def test_writes_land_only_in_the_sandbox(strong):
    assert strong("write", "/tmp/x") is True and strong("write", "/scratch/x") is True
    for path in ("/usr/x", "/opt/challenge/grader/x", world.PythonInSandbox.here().sites[0][1] + "/x", "/x"):
        assert "Read-only" in strong.fails("write", path) or "PermissionError" in strong.fails("write", path)


# -- environment, folders, limits ------------------------------------------------------------------


def test_scrubbed_env_keeps_only_what_it_sets(monkeypatch):
    monkeypatch.setenv("CHALLENGE_TEST_SECRET", "xyz")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "xyz")
    monkeypatch.setenv("LANG", "C.UTF-8")
    env = world.scrubbed_env(home="/scratch", tmp="/tmp", threads=3)
    assert "xyz" not in env.values()
    assert env["HOME"] == "/scratch" and env["TMPDIR"] == "/tmp"
    assert env["OMP_NUM_THREADS"] == "3" and env["HF_HUB_OFFLINE"] == "1" and env["LANG"] == "C.UTF-8"
    assert set(env) - set(world.SAFE_ENV) == {
        "HOME", "TMPDIR", "USER", "LOGNAME", "PATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "OMP_NUM_THREADS",
        "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "MPLBACKEND", "PYTHONHASHSEED"}


@pytest.mark.parametrize("isolation", ["best", "off"])
def test_the_worker_sees_only_the_scrubbed_environment(monkeypatch, isolation):
    monkeypatch.setenv("CHALLENGE_TEST_SECRET", "xyz")
    probe = Probe(isolation)
    try:
        env, where = probe("environment"), probe("where")
    finally:
        probe.close()
    assert "CHALLENGE_TEST_SECRET" not in env and "xyz" not in env.values()
    # bubblewrap adds PWD (--chdir) and the interpreter's library path (LD_LIBRARY_PATH): neither comes from the judge
    assert set(env) <= set(world.scrubbed_env(home="", tmp="", threads=2)) | {"LC_CTYPE", "PWD", "LD_LIBRARY_PATH"}
    assert where["cwd"].startswith(where["home"]) and "run-" in where["cwd"]


def test_resource_limits_apply_in_the_worker():
    limits = Limits(memory_mb=3000, cpu_s=77, file_size_mb=5, open_files=99)
    probe = Probe("best", limits)
    try:
        got = probe("limits")
    finally:
        probe.close()
    mb = 1024 * 1024
    assert got == {"RLIMIT_AS": 3000 * mb, "RLIMIT_FSIZE": 5 * mb, "RLIMIT_NOFILE": 99, "RLIMIT_CPU": 77,
                   "RLIMIT_CORE": 0}


@needs_strong
def test_the_worker_sees_no_other_processes(strong):
    # bwrap's init, the forker, this run's keeper, init and worker: listed in the sandbox's /proc, but the grader's
    # have no pid in the run's own namespace (tests/grader/engine/test_grader_out_of_reach.py)
    assert strong("visible_processes") <= 5


# -- processes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ["best", "off"])
def test_daemons_die_with_the_run(isolation):
    if isolation == "off" and not _cgroups_available():
        pytest.skip("without a PID namespace only a pids cgroup finds a setsid daemon")
    argument = str(800_000 + int(uuid.uuid4().hex[:5], 16) % 90_000)
    probe = Probe(isolation)
    try:
        probe("daemon", argument)
        assert _wait_for(lambda: _sleeping(argument))
    finally:
        probe.close()
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


def _wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()
