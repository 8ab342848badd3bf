"""Launching the worker in a sandbox, with whatever isolation this OS allows.

Layers (each recorded in ``SandboxMode``, none silently assumed):
- a new network namespace (no network at all) and a new PID namespace (every
  process the worker spawns dies with it), via util-linux ``unshare``; as a
  normal user through a user namespace where the system permits one;
- a scrubbed environment (no tokens or credentials from the parent);
- a temporary scratch folder as working directory and HOME;
- resource limits: address space, file size, open files, CPU time, processes
  (a pids cgroup where one can be created: uid 0 ignores RLIMIT_NPROC);
- inside the worker: Landlock (writes only to scratch, no reading of the home
  folder, no TCP) and all capabilities dropped (see ``grader.confine``).
"""

from __future__ import annotations

import functools
import itertools
import os
import resource
import shutil
import signal
import site
import subprocess
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grader

SAFE_ENV = ("LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 6144
    cpu_s: int = 600
    file_size_mb: int = 512
    open_files: int = 256
    processes: int = 256  # beyond what the user already runs; threads count too


@dataclass
class SandboxMode:
    network: str = "unrestricted"
    processes: str = "process group"
    filesystem: str = "unrestricted"
    tcp: str = "unrestricted"
    capabilities: str = "kept"
    environment: str = "scrubbed"
    limits: dict = field(default_factory=dict)

    @property
    def isolated(self) -> bool:
        """Network cut off and filesystem confined: safe enough for foreign code."""
        return self.network.startswith("none") and self.filesystem.startswith("landlock")

    def to_dict(self) -> dict:
        return asdict(self) | {"isolated": self.isolated}


class TaskCgroup:
    """A pids cgroup for one worker: a hard cap on its tasks, and a way to kill them all.

    Why: the kernel exempts uid 0 from RLIMIT_NPROC whatever its capabilities,
    so for a verifier running as root (containers, CI) the ``processes`` limit
    did nothing and a fork bomb ran until the call timeout, exhausting the
    machine's PIDs. Where this process may create a child cgroup with the pids
    controller (cgroup v1 ``pids`` hierarchy, or v2 with pids delegated), each
    worker gets one. It also finds processes that left the process group
    (setsid daemons), which matters when there is no PID namespace.
    """

    _names = itertools.count()

    def __init__(self, path: Path, max_tasks: int):
        self.path, self.max_tasks = path, max_tasks

    @classmethod
    def create(cls, max_tasks: int) -> "TaskCgroup | None":
        for parent in _own_pids_cgroups():
            path = parent / f"challenge-worker-{os.getpid()}-{next(cls._names)}"
            try:
                path.mkdir()
            except OSError:
                continue
            try:
                (path / "pids.max").write_text(str(max_tasks))
                return cls(path, max_tasks)
            except OSError:
                _rmdir(path)
        return None

    def enter(self) -> None:
        """Move the calling process into the cgroup (run in the child before exec)."""
        fd = os.open(self.path / "cgroup.procs", os.O_WRONLY)
        try:
            os.write(fd, b"0")
        finally:
            os.close(fd)

    def contains(self, pid: int) -> bool:
        try:
            return str(pid) in (self.path / "cgroup.procs").read_text().split()
        except OSError:
            return False

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process in the cgroup until it is empty (a fork bomb refills it)."""
        kill_file = self.path / "cgroup.kill"  # cgroup v2 >= 5.14: atomic
        if kill_file.exists():
            try:
                kill_file.write_text("1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill_all()
        _rmdir(self.path)


def _own_pids_cgroups() -> list[Path]:
    """Folders of this process's own cgroups that offer the pids controller (v1 first)."""
    try:
        memberships = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return []
    own = {}  # "v1" / "v2" -> path of this process's cgroup
    for line in memberships:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            own["v1"] = path
        elif controllers == "":
            own["v2"] = path
    found = []
    for line in mounts:
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        root, mount_point = fields[3], fields[4]
        fs_type, _, options = line.split(" - ", 1)[1].split(" ", 2)
        if fs_type == "cgroup" and "pids" in options.split(",") and "v1" in own:
            version = "v1"
        elif fs_type == "cgroup2" and "v2" in own:
            version = "v2"
        else:
            continue
        relative = os.path.relpath(own[version], root)
        if relative.startswith(".."):
            continue
        folder = Path(mount_point) / relative
        if version == "v2" and "pids" not in _read(folder / "cgroup.subtree_control").split():
            continue  # pids not delegated to our children
        found.append((version, folder.resolve()))
    return [folder for _, folder in sorted(found)]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _rmdir(path: Path) -> None:
    for _ in range(50):  # the last exiting tasks may linger a few milliseconds
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


@functools.lru_cache(maxsize=1)
def namespace_prefix() -> tuple[str, ...]:
    """The ``unshare`` invocation that works here, or () where none does."""
    tool = shutil.which("unshare")
    if not tool or sys.platform != "linux":
        return ()
    base = ("--net", "--pid", "--fork", "--kill-child")
    attempts = []
    # --mount-proc first: without it the worker sees the host's /proc, i.e. every process's command
    # line (environments stay unreadable: Landlock forbids ptrace-class access outside the sandbox)
    for extra in (("--mount-proc",), ()):
        if os.geteuid() == 0:
            attempts.append((tool, *base, *extra))
        attempts.append((tool, "--user", "--map-root-user", *base, *extra))
    for prefix in attempts:
        try:
            probe = subprocess.run([*prefix, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return prefix
    return ()


def _count_own_tasks() -> int:
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


def _readable_roots() -> list[str]:
    """Where the worker may read: system folders, Python and its packages, the
    grader package; never the harness's milestones (references) or home."""
    roots = {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/dev", "/opt/conda"}
    for key in ("stdlib", "platstdlib", "include"):
        roots.add(sysconfig.get_paths()[key])
    roots.update({sys.base_prefix + "/bin", sys.base_prefix + "/lib", sys.prefix + "/bin", str(Path(sys.executable).resolve().parent)})
    hidden = {"milestones", "challenge"}
    for packages in {*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}:
        folder = Path(packages)
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name not in hidden:
                roots.add(str(entry))
    roots.add(str(Path(grader.__file__).resolve().parent))
    return sorted(r for r in roots if Path(r).exists())


def device_files(devices: tuple[str, ...]) -> list[str]:
    """Device nodes an accelerator needs read-write access to (CUDA: /dev/nvidia*)."""
    if "cuda" not in devices:
        return []
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))


def worker_config(*, learner_path: Path, scratch: Path, tracked: list[str], threads: int, confine: bool,
                  devices: tuple[str, ...] = ()) -> dict:
    return {
        "learner_path": str(learner_path),
        "tracked": tracked,
        "threads": threads,
        "confine": confine,
        "read_paths": _readable_roots() + [str(scratch)],
        "write_paths": [str(scratch)],
        "write_files": ["/dev/null", *device_files(devices)],
    }


def scrubbed_env(scratch: Path, threads: int) -> dict[str, str]:
    env = {key: os.environ[key] for key in SAFE_ENV if key in os.environ}
    env.update(HOME=str(scratch), TMPDIR=str(scratch / "tmp"), PATH="/usr/bin:/bin", PYTHONDONTWRITEBYTECODE="1",
               PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    return env


def _limit_setter(limits: Limits, base_tasks: int):
    def apply() -> None:
        mb = 1024 * 1024
        memory = limits.memory_mb * mb if limits.memory_mb else resource.RLIM_INFINITY  # CUDA reserves huge address space
        for which, value in ((resource.RLIMIT_AS, memory),
                             (resource.RLIMIT_FSIZE, limits.file_size_mb * mb),
                             (resource.RLIMIT_NOFILE, limits.open_files),
                             (resource.RLIMIT_CPU, limits.cpu_s),
                             (resource.RLIMIT_CORE, 0),
                             (resource.RLIMIT_NPROC, base_tasks + limits.processes)):
            try:
                _, hard = resource.getrlimit(which)
                value = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(which, (value, value if which != resource.RLIMIT_CPU else value + 5))
            except (ValueError, OSError):
                pass

    return apply


def launch(*, config: dict, scratch: Path, limits: Limits, threads: int, fds: tuple[int, int],
           isolate: bool = True, cgroup: TaskCgroup | None = None) -> tuple[subprocess.Popen, SandboxMode]:
    """Start the worker. ``fds`` are (requests read end, responses write end).

    ``cgroup``, where given, receives the worker before it starts (the caller
    removes it after the worker has gone)."""
    prefix = namespace_prefix() if isolate else ()
    mode = SandboxMode(limits=asdict(limits))
    if prefix:
        mode.network = "none (network namespace)"
        mode.processes = "PID namespace: every spawned process dies with the worker"
        if "--mount-proc" in prefix:
            mode.processes += "; own /proc (other processes invisible)"
    limit_setter = _limit_setter(limits, _count_own_tasks())

    def before_exec() -> None:
        if cgroup is not None:
            try:
                cgroup.enter()
            except OSError:
                pass  # checked below: the mode says only what really applies
        limit_setter()

    bootstrap = ("import sys; sys.path.insert(0, sys.argv.pop(1)); from grader.worker import main; main()")
    command = [*prefix, sys.executable, "-I", "-c", bootstrap, str(Path(grader.__file__).resolve().parent.parent),
               "--fd-in", str(fds[0]), "--fd-out", str(fds[1]), "--config", _json(config)]
    (scratch / "tmp").mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=fds,
        cwd=scratch, env=scrubbed_env(scratch, threads), preexec_fn=before_exec, start_new_session=True)
    if cgroup is not None and cgroup.contains(process.pid):
        mode.processes += f"; at most {cgroup.max_tasks} tasks (pids cgroup)"
    elif os.geteuid() == 0:
        mode.processes += "; no limit on tasks (root ignores RLIMIT_NPROC and no pids cgroup was available)"
    else:
        mode.processes += f"; at most {limits.processes} more tasks (RLIMIT_NPROC)"
    return process, mode


def _json(value: dict) -> str:
    import json

    return json.dumps(value)
