"""Self-confinement of the worker process, applied before any learner code runs.

Linux only, through raw syscalls (ctypes), each layer optional and reported:

- Landlock: writes only inside the scratch folder; reads only where Python,
  its packages and the system libraries live (not the home folder); no TCP
  bind/connect (ABI >= 4); no signals or abstract unix sockets outside the
  sandbox (ABI >= 6).
- Capabilities: all dropped, so that resource limits (processes) bind even a
  root-owned worker and it cannot undo its confinement.
- no_new_privs: required by Landlock, and stops set-uid escalation.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import struct
from pathlib import Path

_SYS = {"x86_64": (444, 445, 446), "aarch64": (444, 445, 446)}
PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}

FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_ALL_V1 = (1 << 13) - 1
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1
READ_ONLY = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
FILE_ONLY_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(number: int, *args) -> int:
    return _libc.syscall(ctypes.c_long(number), *args)


def landlock_abi() -> int:
    numbers = _SYS.get(platform.machine())
    if not numbers:
        return 0
    version = _syscall(numbers[0], None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, version)


def _fs_rights(abi: int) -> int:
    rights = FS_ALL_V1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def apply_landlock(*, read_paths: list[Path], write_paths: list[Path], write_files: list[Path],
                   scope: bool = True) -> dict:
    """Confine this process (and its children) to the given paths. Returns what was applied."""
    abi = landlock_abi()
    if abi < 1:
        return {"filesystem": "unrestricted (Landlock unavailable)", "tcp": "unrestricted", "scoped": False}
    create, add_rule, restrict = _SYS[platform.machine()]
    handled_fs = _fs_rights(abi)
    handled_net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL if abi >= 6 and scope else 0
    attr = struct.pack("<Q", handled_fs)
    if abi >= 4:
        attr += struct.pack("<Q", handled_net)
    if abi >= 6:
        attr += struct.pack("<Q", scoped)
    buffer = ctypes.create_string_buffer(attr, len(attr))
    ruleset = _syscall(create, buffer, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        return {"filesystem": f"unrestricted (landlock error {ctypes.get_errno()})", "tcp": "unrestricted",
                "scoped": False}
    try:
        for paths, rights in ((read_paths, READ_ONLY), (write_paths, handled_fs), (write_files, None)):
            for path in paths:
                _add_path_rule(add_rule, ruleset, path, rights, handled_fs)
        if _libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
        if _syscall(restrict, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return {"filesystem": "landlock: writes only in scratch, reads only system and Python paths",
            "tcp": "blocked (landlock)" if handled_net else "unrestricted (Landlock ABI < 4)",
            "scoped": bool(scoped), "landlock_abi": abi}


def _add_path_rule(add_rule: int, ruleset: int, path: Path, rights: int | None, handled_fs: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist needs no rule
    try:
        is_dir = os.path.isdir(path)
        allowed = handled_fs if rights is None else rights
        if not is_dir:
            allowed &= FILE_ONLY_RIGHTS
        allowed &= handled_fs
        attr = struct.pack("<Qi", allowed, fd)  # landlock_path_beneath_attr is packed
        buffer = ctypes.create_string_buffer(attr, len(attr))
        if _syscall(add_rule, ctypes.c_int(ruleset), ctypes.c_int(1), buffer, ctypes.c_uint32(0)) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule({path})")
    finally:
        os.close(fd)


def drop_capabilities() -> bool:
    """Drop every capability (bounding, ambient, effective, permitted, inheritable)."""
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except OSError:
        last = 40
    for cap in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # fails harmlessly without CAP_SETPCAP
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    number = SYS_CAPSET.get(platform.machine())
    if number is None:
        return False
    header = struct.pack("<Ii", 0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = b"\0" * 24  # two cap_user_data_t of (effective, permitted, inheritable), all zero
    ok = _syscall(number, ctypes.create_string_buffer(header, 8), ctypes.create_string_buffer(data, 24)) == 0
    return ok
