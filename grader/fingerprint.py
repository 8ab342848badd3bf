"""Fingerprints of the hidden tests, torch-free so bookkeeping commands can use them."""

from __future__ import annotations

import hashlib
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent
HIDDEN_DIR = GRADER_DIR / "hidden"
# Judge-side modules the hidden tests import: a change in them changes verdicts as much as a test edit does.
JUDGE_SUPPORT = ("compare.py", "stats.py", "hidden_support.py", "hidden_block.py", "hidden_training.py")


def hidden_tests_sha256(folder: Path) -> str:
    """sha256 over every file of a milestone's hidden tests and the judge modules they use (names and contents)."""
    digest = hashlib.sha256()
    files = [(str(p.relative_to(folder)), p) for p in sorted(Path(folder).rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts]
    files += [(f"grader/{name}", GRADER_DIR / name) for name in JUDGE_SUPPORT]
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
