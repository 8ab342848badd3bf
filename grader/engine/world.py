"""What the worker's world is made of: exactly what it needs, read-only.

The strong sandbox is built by bubblewrap (Flatpak's sandbox) from an empty
root: the system's ``/usr`` (libraries), the Python installation with its
standard library, the worker's runtime packages and their dependencies only
(``grader.engine.packages``; never the harness's own: no ``challenge``, no
``milestones`` with its references, no ``grader`` with its judge and hidden
tests), a copy of the few worker modules, ``ld.so.cache``. Fresh tmpfs for
``/tmp`` and the scratch folder, bubblewrap's minimal ``/dev``, its own
``/proc``. What is not mounted cannot be reached: no host ``/tmp``, ``/run``,
``/home``, ``/root``, ``/dev/pts``, so no socket file of the host, no private
file, no other terminal.

Where bubblewrap cannot run, the fallback (``unshare`` namespaces plus
Landlock) reads through the same allowlist of paths, but sees the host's tree
for what Landlock allows (system folders, ``/etc``).
"""

from __future__ import annotations

import functools
import os
import shutil
import site
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grader

HARNESS_PACKAGES = ("challenge", "milestones", "grader")
WORKER_FILES = ("__init__.py", "protocol.py", "messages.py", "errors.py")  # of grader/, besides grader/worker/
SANDBOX_RUNTIME = "/opt/challenge"  # where the worker modules appear inside the strong sandbox
SANDBOX_SCRATCH = "/scratch"
SAFE_ENV = ("LANG", "LC_ALL", "TZ")
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/localtime")


# How the worker's OpenMP threads wait between parallel regions (read once, when torch loads in the sandbox).
# PASSIVE (sleep at once), by bench/bench_threads.py on the GPT reference, 2 cores at load 11-16: a thread that
# spins while it waits spends the CPU budget without training, so spinning costs steps per CPU second as soon as
# the machine is busy (OpenMP's default spin: 0.36-0.42 steps per CPU s against PASSIVE's 1.50-1.69; 10,000 spins:
# a third fewer), i.e. verdicts that depend on load. GOMP_SPINCOUNT=1000 measured the same as PASSIVE. With it,
# the harness runs within 3% of a bare loop at the same setting in steps per CPU s, and no slower in wall time.
OPENMP_WAIT: dict[str, str] = {"OMP_WAIT_POLICY": "PASSIVE"}


def scrubbed_env(*, home: str, tmp: str, threads: int) -> dict[str, str]:
    """The worker's whole environment: nothing of the parent's but locale and time zone."""
    env = {key: os.environ[key] for key in SAFE_ENV if key in os.environ}
    env.update(HOME=home, TMPDIR=tmp, USER="learner", LOGNAME="learner", PATH="/usr/bin:/bin",
               PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1", OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
               HF_DATASETS_OFFLINE="1", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    env.update(OPENMP_WAIT)
    return env


def _harness_entry(entry: Path, repo: Path) -> bool:
    """A site-packages entry that is the harness itself, or points at its source tree (editable installs)."""
    name = entry.name
    if name in HARNESS_PACKAGES or name.startswith(("challenge-", "__editable__", "_editable_impl_challenge")):
        return True
    if entry.suffix == ".pth" and entry.is_file():
        try:
            return str(repo) in entry.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return True
    return False


@functools.lru_cache(maxsize=1)
def site_dirs() -> tuple[Path, ...]:
    """The folders of installed packages this interpreter imports from."""
    paths = {*site.getsitepackages(), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    if sys.prefix != sys.base_prefix:  # the base interpreter's packages are mounted with it: filter them too
        base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
        paths.update({base["purelib"], base["platlib"]})
    return tuple(sorted(Path(p) for p in paths if Path(p).is_dir()))


def package_entries() -> list[Path]:
    """The installed packages the worker needs (``grader.engine.packages``: the closure of its imports by the
    distributions' metadata), the harness's own excluded: nothing else of the interpreter's site-packages."""
    from grader.engine.packages import runtime_entries

    repo = Path(grader.__file__).resolve().parent.parent
    return [entry for entry in runtime_entries(site_dirs()) if not _harness_entry(entry, repo)]


def make_runtime() -> Path:
    """A folder holding a copy of the worker modules only (``WORKER_FILES`` and ``worker/``): what the sandbox
    imports of the harness. The caller removes it."""
    from grader.engine import leftovers

    leftovers.sweep()  # those of judges killed before they could remove theirs
    source = Path(grader.__file__).resolve().parent
    runtime = Path(tempfile.mkdtemp(prefix=leftovers.owner_prefix()))
    target = runtime / "grader"
    (target / "worker").mkdir(parents=True)
    for name in WORKER_FILES:
        shutil.copyfile(source / name, target / name)
    for module in sorted((source / "worker").glob("*.py")):
        shutil.copyfile(module, target / "worker" / module.name)
    for path in (runtime, target, target / "worker", *target.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return runtime


def system_binds() -> list[str]:
    """bwrap options for the system's programs and libraries, read-only."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for path in ETC_FILES:
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    return args


@dataclass(frozen=True)
class PythonInSandbox:
    """Where the interpreter and the package folders appear inside the strong sandbox.

    The installation is mounted at neutral paths (``/opt/python``, ``/opt/site/N``), so that the
    worker learns nothing of the host's layout (a Python under ``/root/.pyenv`` would otherwise show
    the verifier's home folder as a skeleton). What lives under ``/usr`` stays where it is.
    """

    binds: tuple[tuple[str, str], ...]  # (host path, sandbox path) of the installation
    sites: tuple[tuple[str, str], ...]  # (host path, sandbox path) of each package folder
    executable: str  # the interpreter, inside
    extra_sites: tuple[str, ...]  # package folders to add (the venv's: the sandbox runs the base interpreter)
    library_path: str  # for an interpreter linked against libpython by an absolute path

    @classmethod
    def here(cls) -> "PythonInSandbox":
        base = Path(sys.base_prefix).resolve()
        relocate = not str(base).startswith("/usr/")
        inside_base = Path("/opt/python") if relocate else base

        def inside(host: Path, index: int = 0) -> str:
            if host.is_relative_to(base):
                return str(inside_base / host.relative_to(base))
            if str(host).startswith("/usr/"):
                return str(host)
            return f"/opt/site/{index}"

        executable = Path(sys._base_executable).resolve()
        sites = tuple((str(folder), inside(folder, index)) for index, folder in enumerate(site_dirs()))
        default = {str(Path(p).resolve()) for p in site.getsitepackages([sys.base_prefix])}
        extra = tuple(inside_path for host, inside_path in sites if host not in default)
        return cls(binds=((str(base), str(inside_base)),) if relocate else (), sites=sites,
                   executable=inside(executable), extra_sites=extra, library_path=str(inside_base / "lib"))


def _bind_python(args: list[str], layout: PythonInSandbox) -> None:
    for host, inside in layout.binds:
        args += ["--ro-bind", host, inside]
    entries = package_entries()
    for host, inside in layout.sites:  # an empty folder over each, then the allowed entries into it
        args += ["--tmpfs", inside]
        for entry in entries:
            if str(entry.parent) == host:
                args += ["--ro-bind", str(entry), f"{inside}/{entry.name}"]
        args += ["--remount-ro", inside]


def bubblewrap_args(*, runtime: Path, env: dict[str, str], scratch_mb: int, layout: PythonInSandbox,
                    devices: tuple[str, ...] = (), user_namespace: bool = True) -> list[str]:
    """bwrap's options (without the program) for the worker's world."""
    args = ["--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox"]
    if user_namespace:
        args += ["--unshare-user", "--uid", "1000", "--gid", "1000"]
    args += ["--clearenv"]
    library_path = [layout.library_path]
    if "cuda" in devices:  # the driver's libraries may be found only through the judge's library path
        library_path += [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p.startswith("/usr/")]
    env = env | {"LD_LIBRARY_PATH": ":".join(library_path)}
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    args += system_binds()
    _bind_python(args, layout)
    args += ["--ro-bind", str(runtime), SANDBOX_RUNTIME]
    args += ["--proc", "/proc", "--dev", "/dev"]
    size = str(scratch_mb * 1024 * 1024)
    args += ["--size", size, "--tmpfs", "/tmp", "--size", size, "--tmpfs", SANDBOX_SCRATCH]
    if "cuda" in devices:
        for node in sorted(Path("/dev").glob("nvidia*")):
            args += ["--dev-bind", str(node), str(node)]
        args += ["--ro-bind", "/sys", "/sys"]
    args += ["--remount-ro", "/", "--chdir", SANDBOX_SCRATCH]
    return args


def fallback_read_roots(runtime: Path) -> list[str]:
    """Where a worker in the fallback sandbox may read (Landlock): system folders, Python, packages, the runtime."""
    roots = {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/dev", "/opt/conda",
             str(runtime)}
    for key in ("stdlib", "platstdlib", "include"):
        roots.add(sysconfig.get_paths()[key])
    roots.update({sys.base_prefix + "/bin", sys.base_prefix + "/lib", sys.prefix + "/bin",
                  str(Path(sys.executable).resolve().parent)})
    if sys.prefix != sys.base_prefix:
        roots.add(str(Path(sys.prefix) / "pyvenv.cfg"))
    roots.update(str(entry) for entry in package_entries())
    return sorted(r for r in roots if Path(r).exists())


def device_files(devices: tuple[str, ...]) -> list[str]:
    """Device nodes an accelerator needs read-write access to (CUDA: /dev/nvidia*)."""
    if "cuda" not in devices:
        return []
    return sorted(str(p) for p in Path("/dev").glob("nvidia*"))
