"""A ``%%challenge test attention`` cell becomes the milestone's file: the rules for writing it.

The cell is written over the file on disk (atomically), unless the file holds
code the notebook has not seen: edited in another editor since the notebook
last wrote (or loaded) it, or, when the notebook never did, anything but the
milestone's stub. Then the learner is asked, and a kernel that cannot ask
(a headless run, no stdin) says so and leaves the file alone.

What the notebook last wrote or loaded is remembered per file, as a sha256, in
``.notebook/known.json`` in the workspace: it survives a kernel restart and is
not part of the record (the event log) or of a bundle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from challenge.errors import ChallengeError
from challenge.record.storage import write_atomic
from challenge.record.workspace import Workspace

KNOWN_FILE = Path(".notebook") / "known.json"
MAX_KNOWN_BYTES = 1024 * 1024
OVERWRITE_FLAG = "--overwrite"

Ask = Callable[[str], "bool | None"]  # a yes/no question; None: this kernel cannot ask


class NotOverwritten(ChallengeError):
    """The file on disk holds code the notebook has not seen, and the learner did not agree to replace it."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _known_path(workspace: Workspace) -> Path:
    return workspace.root / KNOWN_FILE


def _key(workspace: Workspace, path: Path) -> str:
    return Path(path).resolve().relative_to(workspace.root).as_posix()


def read_known(workspace: Workspace) -> dict[str, str]:
    """file (relative to the workspace) -> sha256 of what the notebook last wrote or loaded.

    Unreadable or odd: nothing is known, so every differing file is asked about (the safe side).
    """
    path = _known_path(workspace)
    try:
        if path.stat().st_size > MAX_KNOWN_BYTES:
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {key: value for key, value in raw.items() if isinstance(key, str) and isinstance(value, str)}


def remember(workspace: Workspace, path: Path, data: bytes) -> None:
    """The notebook has written (or loaded into a cell) ``data`` as ``path``."""
    known = read_known(workspace)
    known[_key(workspace, path)] = sha256_of(data)
    write_atomic(_known_path(workspace), json.dumps(known, indent=2, sort_keys=True) + "\n")


def unseen_change(*, path: Path, new: bytes, known_sha256: str | None, stub: bytes | None) -> str | None:
    """Why writing ``new`` over ``path`` would lose code the notebook has not seen, or None when it would not."""
    try:
        current = Path(path).read_bytes()
    except FileNotFoundError:
        return None
    if current == new:
        return None
    if known_sha256 is not None:
        if sha256_of(current) == known_sha256:
            return None
        return "changed on disk since this notebook last wrote it"
    if stub is not None and current == stub:
        return None
    return "holds code this notebook has not written or loaded"


def cell_source(cell: str) -> bytes:
    """The cell as file content: what the learner typed, ending with one newline."""
    return (cell.rstrip("\n") + "\n").encode("utf-8")


def save_cell(*, workspace: Workspace, path: Path, cell: str, stub: bytes | None, overwrite: bool, ask: Ask,
              magic: str) -> Path:
    """Write ``cell`` as ``path`` (the milestone's file) unless that would lose code the notebook has not seen.

    ``magic``: the cell's first line, for the messages. Raises ``NotOverwritten`` when the file stays as it is.
    """
    if not cell.strip():
        raise NotOverwritten("This cell is empty: nothing to save or grade.",
                             f"Put your code under `{magic}` (`%challenge start` puts the stub in a new cell).")
    new = cell_source(cell)
    reason = unseen_change(path=path, new=new, known_sha256=read_known(workspace).get(_key(workspace, path)),
                           stub=stub)
    if reason and not overwrite:
        answer = ask(f"{path} {reason}. Replace it with this cell?")
        if not answer:
            cannot = answer is None
            raise NotOverwritten(
                f"{path} {reason}; it was left as it is and nothing was graded"
                + (" (this kernel cannot ask: no input in a headless run)." if cannot else "."),
                f"To replace it with this cell: {magic} {OVERWRITE_FLAG}. "
                f"To bring the file into a cell instead: %load {path}")
    write_atomic(path, new)
    remember(workspace, path, new)
    return path
