"""The learner's source, read once per run.

A run (grading, training, a model call) reads the learner's file once into a
``LearnerSource``; its hash, the rule check, every worker it loads into (again
after a restart) and the record all use those bytes. A save made while the run
goes on changes none of them: what is recorded is what ran.

Torch-free: the harness reads the source before the engine is imported.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import GraderError

MAX_SOURCE_BYTES = 2 * 1024 * 1024


class SourceUnreadable(GraderError):
    """The learner's file is missing, unreadable or too large; ``str()`` says which, for the learner."""


@dataclass(frozen=True)
class LearnerSource:
    name: str  # the file's name (the worker imports it under this name)
    data: bytes = field(repr=False)

    @classmethod
    def read(cls, path: Path, *, max_bytes: int = MAX_SOURCE_BYTES) -> "LearnerSource":
        path = Path(path)
        try:
            with open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)  # one read: a file growing meanwhile is cut, never re-read
        except OSError:
            raise SourceUnreadable(f"{path} does not exist.") from None
        if len(data) > max_bytes:
            raise SourceUnreadable(f"{path.name} is more than {max_bytes:,} bytes; a solution file may be at most "
                                   f"{max_bytes:,}.")
        return cls(name=path.name, data=data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")
