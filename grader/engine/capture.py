"""Capturing a worker's stdout and stderr without letting a flood of output hurt the judge."""

from __future__ import annotations

import os
import select
import threading
from dataclasses import dataclass, field

OUTPUT_KEEP = 64 * 1024
DRAIN_READS = 16  # 1 MiB per turn


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
    live: list[int] = field(default_factory=list)  # descriptors still open for reading

    def pump(self, stream) -> None:
        """Read ``stream`` until it ends (run it in a thread of its own).

        Reads happen under the lock and never block, so that ``since`` can take
        what a worker wrote before it replied even when this thread has not woken
        up yet (on a busy machine it often has not: output went missing)."""
        fd = stream.fileno()
        os.set_blocking(fd, False)
        with self.lock:
            self.live.append(fd)
        try:
            while True:
                try:
                    select.select([fd], [], [])
                except (OSError, ValueError):
                    return
                with self.lock:
                    if not self._drain(fd):
                        return
        finally:
            with self.lock:
                if fd in self.live:
                    self.live.remove(fd)

    def _drain(self, fd: int) -> bool:
        """Keep what is readable now (at most DRAIN_READS reads: a flood cannot hold the lock); False at the end."""
        for _ in range(DRAIN_READS):
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not chunk:
                return False
            self.total += len(chunk)
            room = OUTPUT_KEEP - len(self.data)
            if room > 0:
                self.data += chunk[:room]
        return True

    def mark(self) -> int:
        with self.lock:
            for fd in list(self.live):  # what came before the mark belongs to the window before it
                self._drain(fd)
            self.data, self.base = bytearray(), self.total
            return self.total

    def since(self, mark: int) -> tuple[str, int]:
        """(text kept since ``mark``, bytes written since ``mark`` that were not kept)."""
        with self.lock:
            for fd in list(self.live):
                self._drain(fd)
            if mark > self.total:  # a mark from a worker that was since replaced
                mark = self.base
            kept = self.data[max(0, mark - self.base):]
            return kept.decode("utf-8", "replace"), self.total - max(mark, self.base) - len(kept)
