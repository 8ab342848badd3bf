"""Fingerprints of the hidden tests, torch-free so bookkeeping commands can use them.

A milestone's fingerprint covers every input of its verdict that the hidden
tests read: the milestone's folder under ``grader/hidden/``, the shared pytest
configuration there, the whole judge package (``grader/judge/``) and the wire
format the tests' values cross (``grader/protocol.py``) and the types the judge
shares with the engine (``SHARED_TYPES``: messages, source, requests, the error root). Hidden tests and judge
modules import nothing else from the grader, which a test checks, so nothing
that can change a verdict is left out by hand.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent
HIDDEN_DIR = GRADER_DIR / "hidden"
JUDGE_DIR = GRADER_DIR / "judge"
WIRE_FORMAT = GRADER_DIR / "protocol.py"
# The types the judge shares with the engine: its messages, the learner's source, the requests, the error root.
SHARED_TYPES = tuple(GRADER_DIR / name for name in ("messages.py", "source.py", "requests.py", "errors.py"))


def _files(folder: Path) -> list[Path]:
    return [p for p in sorted(Path(folder).rglob("*")) if p.is_file() and "__pycache__" not in p.parts]


def verdict_inputs(folder: Path) -> list[tuple[str, Path]]:
    """(name, path) of every file a milestone's verdict depends on, besides the learner's code."""
    folder = Path(folder)
    files = [(f"tests/{p.relative_to(folder)}", p) for p in _files(folder)]
    files += [(f"hidden/{p.name}", p) for p in sorted(HIDDEN_DIR.glob("*")) if p.is_file()]
    files += [(f"judge/{p.relative_to(JUDGE_DIR)}", p) for p in _files(JUDGE_DIR)]
    files.append(("protocol.py", WIRE_FORMAT))
    files += [(path.name, path) for path in SHARED_TYPES]
    return files


def hidden_tests_sha256(folder: Path) -> str:
    """sha256 over the names and contents of ``verdict_inputs(folder)``."""
    digest = hashlib.sha256()
    for name, path in verdict_inputs(folder):
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
