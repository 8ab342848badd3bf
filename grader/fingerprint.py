"""Fingerprints of the hidden tests, torch-free so bookkeeping commands can use them."""

from __future__ import annotations

import hashlib
from pathlib import Path

HIDDEN_DIR = Path(__file__).resolve().parent / "hidden"


def hidden_tests_sha256(folder: Path) -> str:
    """sha256 over every file of a milestone's hidden tests (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
