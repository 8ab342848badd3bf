"""Which bundles a run verifies: each named by the sha256 of its content, sorted
by that hash, and cut into shards.

Sharding is by **content hash**, not by path: shard I of N takes the bundles at
positions I-1, I-1+N, I-1+2N, ... of the list sorted by sha256. So every
machine that is given the same bundles (under any names, in any order, from
any folder) cuts the same shards; the shards are disjoint and together they
are the whole list; their sizes differ by at most one. The same bundle given
twice (two names, one content) is one bundle.

A folder (``submit --export-dir``) is hashed over its sorted relative paths and
contents; links and special files count by their kind and target, never
followed or read (``.git`` is left out, as extraction leaves it out).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from challenge.bundle.extract import IGNORED_DIRS
from challenge.errors import UsageError

CHUNK = 1 << 20
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class BundleFile:
    path: Path  # as given on the command line
    sha256: str  # of the zip's bytes, or of a folder's listing and contents


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"2/4"`` -> Shard(2, 4); a clear UsageError for anything else."""
    match = _SHARD.match(text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise UsageError(f"--shard {text!r} is not I/N with 1 <= I <= N.",
                         "For example --shard 2/4: the second of four shards.")
    return Shard(int(match.group(1)), int(match.group(2)))


def hash_bundle(path: Path) -> str:
    """sha256 of a zip's bytes, or of a folder's sorted relative paths and contents."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        return _hash_folder(path)
    if not stat.S_ISREG(path.stat().st_mode):  # a pipe or a device would block or never end
        raise OSError(0, "not a file or a folder")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _hash_folder(root: Path) -> str:
    digest = hashlib.sha256(b"challenge-bundle-folder\0")
    for folder, dirs, files in os.walk(root):  # never follows links to folders
        dirs[:] = sorted(d for d in dirs if d not in IGNORED_DIRS)
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]):
            full = os.path.join(folder, name)
            relative = os.path.relpath(full, root).encode("utf-8", "surrogateescape")
            mode = os.lstat(full).st_mode
            digest.update(relative + b"\0")
            if stat.S_ISLNK(mode):
                digest.update(b"link\0" + os.readlink(full).encode("utf-8", "surrogateescape") + b"\0")
            elif stat.S_ISREG(mode):
                digest.update(b"file\0" + hash_bundle(Path(full)).encode() + b"\0")
            else:  # a device or a pipe: reading it could block; extraction refuses it anyway
                digest.update(b"special\0" + str(stat.S_IFMT(mode)).encode() + b"\0")
    return digest.hexdigest()


def list_bundles(paths: Sequence[Path]) -> list[BundleFile]:
    """The distinct bundles among ``paths``, sorted by content hash (the first name of a duplicate kept).

    A path that cannot be read is the caller's mistake, not a learner's: a UsageError naming every such path,
    before any work starts.
    """
    found: dict[str, BundleFile] = {}
    unreadable = []
    for path in sorted({Path(p) for p in paths}, key=str):
        try:
            sha = hash_bundle(path)
        except OSError as error:
            unreadable.append(f"{path} ({error.strerror or error})")
            continue
        found.setdefault(sha, BundleFile(path, sha))
    if unreadable:
        raise UsageError("Cannot read " + "; ".join(unreadable) + ".",
                         "Check the paths (a bundle is a .challenge.zip file or a folder made by submit --export-dir).")
    return [found[sha] for sha in sorted(found)]


def take_shard(bundles: Sequence[BundleFile], shard: Shard | None) -> list[BundleFile]:
    """The shard's share of ``bundles`` (sorted by hash, as ``list_bundles`` returns them): every N-th from I-1."""
    ordered = sorted(bundles, key=lambda b: b.sha256)
    if shard is None:
        return ordered
    return ordered[shard.index - 1::shard.count]
