"""A pids cgroup per sandbox: a hard cap on its tasks, and a way to kill them all."""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path


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
