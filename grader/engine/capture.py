"""Capturing a worker's stdout and stderr without letting a flood of output hurt the judge."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

OUTPUT_KEEP = 64 * 1024


@dataclass
class OutputCapture:
    """Keeps the first OUTPUT_KEEP bytes of a stream after the latest mark, counts the rest.

    Marks are stream positions, used one at a time (a test's setup marks, its
    teardown reads). Each mark starts a new window and drops what came before,
    so one test that prints megabytes neither hides the output of the tests
    after it nor makes them all say "truncated" (both happened before).
    """

    data: bytearray = field(default_factory=bytearray)
    base: int = 0  # stream position of data[0]
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pump(self, stream) -> None:
        for chunk in iter(lambda: stream.read1(65536), b""):
            with self.lock:
                self.total += len(chunk)
                room = OUTPUT_KEEP - len(self.data)
                if room > 0:
                    self.data += chunk[:room]

    def mark(self) -> int:
        with self.lock:
            self.data, self.base = bytearray(), self.total
            return self.total

    def since(self, mark: int) -> tuple[str, int]:
        """(text kept since ``mark``, bytes written since ``mark`` that were not kept)."""
        with self.lock:
            if mark > self.total:  # a mark from a worker that was since replaced
                mark = self.base
            kept = self.data[max(0, mark - self.base):]
            return kept.decode("utf-8", "replace"), self.total - max(mark, self.base) - len(kept)
