"""Opening a stranger's bundle without trusting it.

Every entry is checked before a byte is written: no absolute paths, no ``..``,
no links, no device files, no duplicates, no encryption, limits on the number
of files, on sizes and on the compression ratio (zip bombs). Files are written
only into a fresh private folder, created exclusively, never through a link,
and the bytes actually written are counted (a header may lie about sizes).

A folder (from ``submit --export-dir``, e.g. a cloned repository) is copied
under the same rules.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from challenge.bundle.errors import BundleInvalid, Problem

CHUNK = 1 << 20
IGNORED_DIRS = {".git"}  # a cloned export carries git's own folder


@dataclass(frozen=True)
class Limits:
    max_files: int = 10_000
    max_total_bytes: int = 2 * 1024**3
    max_file_bytes: int = 1024**3
    max_ratio: float = 200.0  # uncompressed / compressed, judged for entries above ratio_floor_bytes
    ratio_floor_bytes: int = 1 << 20
    max_path_length: int = 400


def _archive_problem(name: str, reason: str) -> BundleInvalid:
    return BundleInvalid([Problem("archive", name, reason)])


def check_name(name: str, limits: Limits) -> PurePosixPath:
    """The entry's relative path, or BundleInvalid naming the rule it breaks."""
    if not name or "\0" in name:
        raise _archive_problem(repr(name), "empty or NUL in the name")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in name):  # escape sequences, line breaks: never a file name
        raise _archive_problem(name, "control characters in the name")
    if len(name) > limits.max_path_length:
        raise _archive_problem(name[:80] + "...", f"name longer than {limits.max_path_length} characters")
    if "\\" in name:
        raise _archive_problem(name, "absolute path or backslash in the name (Windows-style paths are not allowed)")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise _archive_problem(name, "absolute path: entries must be relative to the bundle")
    path = PurePosixPath(name.rstrip("/"))
    if any(part == ".." for part in path.parts):
        raise _archive_problem(name, "zip slip: '..' would write outside the bundle folder")
    if any(part in ("", ".") for part in name.rstrip("/").split("/")):
        raise _archive_problem(name, "empty or '.' path component")
    return path


def _entry_kind(info: zipfile.ZipInfo) -> str:
    mode = info.external_attr >> 16
    if info.create_system != 3 or stat.S_IFMT(mode) == 0:  # no file type recorded (not Unix, or a bare mode)
        return "dir" if info.is_dir() else "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode) or info.is_dir():
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    return "device"


def _check_entries(infos: list[zipfile.ZipInfo], limits: Limits) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    if len(infos) > limits.max_files:  # folders count too: the central directory itself can be the bomb
        raise _archive_problem("", f"too many files ({len(infos)} entries > {limits.max_files})")
    seen: set[str] = set()
    total = 0
    checked = []
    for info in infos:
        path = check_name(info.filename, limits)
        kind = _entry_kind(info)
        if kind == "symlink":
            raise _archive_problem(info.filename, "symlink: links are not allowed in a bundle")
        if kind == "device":
            raise _archive_problem(info.filename, "device file or other special file: only plain files are allowed")
        if info.flag_bits & 0x1:
            raise _archive_problem(info.filename, "encrypted entry")
        key = str(path)
        if key in seen:
            raise _archive_problem(info.filename, "duplicate entry")
        seen.add(key)
        if kind == "dir":
            continue
        if info.file_size > limits.max_file_bytes:
            raise _archive_problem(info.filename, f"file too large ({info.file_size} bytes > {limits.max_file_bytes})")
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(1, info.compress_size):
            ratio = info.file_size / max(1, info.compress_size)
            raise _archive_problem(info.filename, f"zip bomb: compression ratio {ratio:.0f}:1 exceeds "
                                                  f"{limits.max_ratio:.0f}:1")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise _archive_problem("", f"zip bomb: more than {limits.max_total_bytes} bytes uncompressed in all")
        checked.append((info, path))
    return checked


def _create(dest: Path, path: PurePosixPath) -> int:
    """Create the file exclusively (never through a link) and return its descriptor."""
    target = dest.joinpath(*path.parts)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not target.resolve().is_relative_to(dest.resolve()):  # cannot happen after check_name; belt and braces
        raise _archive_problem(str(path), "zip slip: resolves outside the bundle folder")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.open(target, flags, 0o600)


def _copy_stream(source, fd: int, name: str, limit: int, budget: list[int]) -> None:
    written = 0
    with os.fdopen(fd, "wb") as handle:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            budget[0] -= len(chunk)
            if written > limit or budget[0] < 0:
                raise _archive_problem(name, "zip bomb: more data than its header declares")
            handle.write(chunk)


def extract_zip(archive: Path, dest: Path, *, limits: Limits = Limits()) -> list[str]:
    """Extract ``archive`` into the empty folder ``dest``; returns the files' relative names."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            checked = _check_entries(bundle.infolist(), limits)
            budget = [limits.max_total_bytes]
            names = []
            for info, path in checked:
                with bundle.open(info) as source:
                    _copy_stream(source, _create(dest, path), info.filename, info.file_size, budget)
                names.append(str(path))
            return names
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
        raise _archive_problem(archive.name, f"not a readable zip file ({error})") from None
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise _archive_problem("", "conflicting entries: a file and a folder share a name") from None


def copy_folder(source: Path, dest: Path, *, limits: Limits = Limits()) -> list[str]:
    """Copy an exported bundle folder under the same rules as a zip (no links, no special files)."""
    names: list[str] = []
    total = 0
    base = source.resolve()
    for folder, dirs, files in os.walk(base, followlinks=False):
        here = Path(folder)
        dirs[:] = [d for d in dirs if not (here == base and d in IGNORED_DIRS)]
        for name in sorted(dirs + files):
            full = here / name
            rel = full.relative_to(base).as_posix()
            info = full.lstat()
            if stat.S_ISLNK(info.st_mode):
                raise _archive_problem(rel, "symlink: links are not allowed in a bundle")
            if stat.S_ISDIR(info.st_mode):
                continue
            if not stat.S_ISREG(info.st_mode):
                raise _archive_problem(rel, "device file or other special file: only plain files are allowed")
            path = check_name(rel, limits)
            total += info.st_size
            if info.st_size > limits.max_file_bytes:
                raise _archive_problem(rel, f"file too large ({info.st_size} bytes > {limits.max_file_bytes})")
            if total > limits.max_total_bytes:
                raise _archive_problem("", f"more than {limits.max_total_bytes} bytes in all")
            if len(names) >= limits.max_files:
                raise _archive_problem("", f"too many files (> {limits.max_files})")
            fd_in = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            with os.fdopen(fd_in, "rb") as handle:
                _copy_stream(handle, _create(dest, path), rel, info.st_size, [limits.max_total_bytes])
            names.append(str(path))
    return names


def extract_bundle(source: Path, dest: Path, *, limits: Limits = Limits()) -> list[str]:
    """Extract a bundle (zip or exported folder) into ``dest``; BundleInvalid when unsafe."""
    source = Path(source)
    if source.is_symlink() and source.is_dir():
        raise _archive_problem(source.name, "symlink: the bundle folder itself is a link")
    if source.is_dir():
        return copy_folder(source, dest, limits=limits)
    if not source.is_file():
        from challenge.errors import UsageError

        raise UsageError(f"{source} does not exist.", "Pass the path of a .challenge.zip file (or an exported folder).")
    return extract_zip(source, dest, limits=limits)
