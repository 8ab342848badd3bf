"""Runtime folders of judges that were killed: found by their owner's pid and start time, and removed.

A judge removes its runtime folder (and the fallback's scratch folder) when it closes its sandbox; a judge killed
with SIGKILL cannot. Each folder's name records its owner (``challenge-runtime-<pid>-<start>-...``, the start time
from ``/proc/<pid>/stat``, so that a reused pid is not taken for the owner), and every new sandbox first removes
the folders whose owner is gone. Only folders of this user, never through a symbolic link, and only names of
this form: nothing else in the temp folder is touched.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

PREFIX = "challenge-runtime-"
_NAME = re.compile(rf"^{PREFIX}(\d+)-(\d+)-(\d+)-")  # PID namespace, pid, start time


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot, or None where it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    try:
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name in parentheses may hold spaces
    except (IndexError, ValueError):
        return None


def _pid_namespace() -> int:
    try:
        return os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return 0


def owner_prefix() -> str:
    """The name prefix of a folder owned by this process."""
    return f"{PREFIX}{_pid_namespace()}-{os.getpid()}-{start_time(os.getpid()) or 0}-"


def _owner_gone(name: str) -> bool:
    """Whether the folder's owner has gone; False for a judge of another PID namespace (its pid means nothing here)."""
    match = _NAME.match(name)
    if match is None or int(match.group(1)) != _pid_namespace():
        return False
    pid, started = int(match.group(2)), int(match.group(3))
    if pid == os.getpid():
        return False
    now = start_time(pid)
    return now is None or now != started


def sweep(parent: Path | None = None) -> list[Path]:
    """Remove the runtime (and scratch) folders in ``parent`` whose owning judge has gone; returns them."""
    if not Path("/proc/self/stat").exists():
        return []  # no way to tell a live owner from a dead one
    parent = Path(parent or tempfile.gettempdir())
    removed = []
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(PREFIX) or not _owner_gone(entry.name):
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if entry.is_symlink() or not entry.is_dir() or info.st_uid != os.getuid():
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed
