"""The workspace's append-only event log: JSON lines, hash-chained, fsync'd.

Each line is one event. Its ``hash`` is the sha256 of the previous event's hash
and the event's own canonical JSON, so an edited or deleted line breaks the
chain. Appends happen under a file lock (concurrent CLI calls serialise) and are
fsync'd before the lock is released. A process killed in the middle of a write
leaves a torn last line: it is reported and skipped, never fatal, and the next
append starts on a fresh line so no complete event is ever lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from filelock import FileLock

from challenge.storage import fsync_dir

LOG_VERSION = 1
GENESIS = "0" * 64
LOCK_TIMEOUT_S = 30


@dataclass(frozen=True)
class Event:
    seq: int
    ts: float
    type: str
    milestone: str | None
    data: dict[str, Any]
    prev: str
    hash: str

    def body(self) -> dict[str, Any]:
        return {"v": LOG_VERSION, "seq": self.seq, "ts": self.ts, "type": self.type,
                "milestone": self.milestone, "data": self.data, "prev": self.prev}


@dataclass(frozen=True)
class LogProblem:
    line: int
    kind: str  # "torn" (unreadable line, e.g. a crash mid-write) or "chain" (edited/deleted/reordered)
    detail: str


@dataclass
class LogReading:
    events: list[Event] = field(default_factory=list)
    problems: list[LogProblem] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        """No line was edited, deleted or reordered (torn lines alone keep it intact)."""
        return not any(p.kind == "chain" for p in self.problems)

    @property
    def head(self) -> str:
        return self.events[-1].hash if self.events else GENESIS


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(prev: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(prev.encode("ascii") + _canonical(body)).hexdigest()


def _parse(line: bytes) -> Event | None:
    try:
        raw = json.loads(line)
        return Event(seq=int(raw["seq"]), ts=float(raw["ts"]), type=str(raw["type"]),
                     milestone=raw.get("milestone"), data=dict(raw.get("data") or {}),
                     prev=str(raw["prev"]), hash=str(raw["hash"]))
    except (ValueError, KeyError, TypeError):
        return None


def read_log(path: Path) -> LogReading:
    """Read every event, verifying the chain; never raises on bad content."""
    reading = LogReading()
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return reading
    expected_prev, expected_seq = GENESIS, 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        event = _parse(line)
        if event is None:
            reading.problems.append(LogProblem(number, "torn", "unreadable line (a crash while writing?)"))
            continue
        if event.hash != chain_hash(event.prev, event.body()):
            reading.problems.append(LogProblem(number, "chain",
                                               f"event {event.seq} was edited (its hash does not match)"))
        elif event.prev != expected_prev or event.seq != expected_seq:
            reading.problems.append(LogProblem(
                number, "chain",
                f"event {event.seq} does not follow event {expected_seq - 1} (a line was deleted or moved)"))
        reading.events.append(event)
        expected_prev, expected_seq = event.hash, event.seq + 1
    return reading


class EventLog:
    """Appends events to ``path``; ``clock`` is injectable for tests."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.clock = clock
        self.lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S)

    def read(self) -> LogReading:
        return read_log(self.path)

    def append(self, type: str, *, milestone: str | None = None, data: dict[str, Any] | None = None,
               ts: float | None = None) -> Event:
        with self.lock:
            last = self._last_event()
            seq = last.seq + 1 if last else 0
            prev = last.hash if last else GENESIS
            body = {"v": LOG_VERSION, "seq": seq, "ts": float(self.clock() if ts is None else ts), "type": type,
                    "milestone": milestone, "data": data or {}, "prev": prev}
            line = dict(body, hash=chain_hash(prev, body))
            self._write_line(_canonical(line))
            return Event(seq=seq, ts=body["ts"], type=type, milestone=milestone, data=body["data"], prev=prev,
                         hash=line["hash"])

    def _last_event(self) -> Event | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        for line in reversed(raw.split(b"\n")):
            if line.strip() and (event := _parse(line)) is not None:
                return event
        return None

    def _write_line(self, payload: bytes) -> None:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            # A torn last line (no newline) gets terminated first, so it stays one bad line.
            prefix = b"\n" if size and self._ends_without_newline(size) else b""
            data = prefix + payload + b"\n"
            while data:
                written = os.write(fd, data)
                data = data[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(self.path.parent)

    def _ends_without_newline(self, size: int) -> bool:
        with open(self.path, "rb") as handle:
            handle.seek(size - 1)
            return handle.read(1) != b"\n"
