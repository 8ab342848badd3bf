"""The workspace's append-only event log: JSON lines, hash-chained, fsync'd.

Each line is one event. Its ``hash`` is the sha256 of the previous event's hash
and the event's own canonical JSON, so an edited or deleted line breaks the
chain. Appends happen under a file lock (concurrent CLI calls serialise) and are
fsync'd before the lock is released. A process killed in the middle of a write
leaves a torn last line: it is reported and skipped, never fatal, and the next
append starts on a fresh line so no complete event is ever lost.

Lines are untrusted JSON: each is read with size and depth limits and checked
against the typed models of ``challenge.record.events``. A line that is not an event,
or an event whose data is mistyped, is reported ("malformed", "unusable") and
skipped; a mistyped event still counts in the chain.

The chain cannot show that events were cut off the end, or that the whole file
went. So the log's head (the count of events and the last hash) is kept beside
it in ``events.head.json``, rewritten atomically with every append under the
same lock. A log shorter than its head, one that ends elsewhere, or a missing
log is a "loss" problem; the next append first records it in the chain as a
``log_loss`` event, so the loss stays on record (``status`` warns, ``submit``
refuses without ``--accept-log-loss``, ``verify`` and ``show`` say so).
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

from challenge.record.events import data_problem, line_problem
from challenge.safe_json import UntrustedJSON, load_json, read_json_file
from challenge.record.storage import fsync_dir, write_json_atomic

LOG_VERSION = 1
GENESIS = "0" * 64
LOCK_TIMEOUT_S = 30
MAX_LINE_BYTES = 256 * 1024  # the longest event the harness writes (a reflection) is ~25 KB
MAX_LINE_DEPTH = 16
MAX_LOG_BYTES = 256 * 1024 * 1024
HEAD_VERSION = 1
BODY_KEYS = ("v", "seq", "ts", "type", "milestone", "data", "prev")


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
    line: int  # 0: the log as a whole
    # torn: not JSON (a crash mid-write) · malformed: JSON, but not an event (too deep, too long, mistyped)
    # unusable: an event of the chain whose data is mistyped for its type (left out of the bookkeeping)
    # chain: edited, deleted or reordered · loss: events missing from the end, or the file gone
    # head: events.head.json unreadable (rewritten at the next append)
    kind: str
    detail: str


@dataclass
class LogReading:
    events: list[Event] = field(default_factory=list)  # the usable events, in order
    problems: list[LogProblem] = field(default_factory=list)
    count: int = 0  # events in the chain, unusable ones included (what the head and the manifest count)
    head: str = GENESIS  # hash of the last event in the chain
    unusable: list[int] = field(default_factory=list)  # seq of chained events whose data is mistyped

    @property
    def intact(self) -> bool:
        """No line was edited, deleted or reordered (torn lines alone keep it intact)."""
        return not any(p.kind == "chain" for p in self.problems)

    @property
    def losses(self) -> list[str]:
        """Every loss of events: recorded in the log (``log_loss`` events) or found now and not yet recorded."""
        recorded = [f"{_when(e.ts)}: {e.data.get('detail')}" for e in self.events if e.type == "log_loss"]
        return recorded + [p.detail for p in self.problems if p.kind == "loss"]


@dataclass(frozen=True)
class Head:
    """What events.head.json says: the log held ``events`` events, the last with hash ``head``."""

    events: int
    head: str


def head_path(log_path: Path) -> Path:
    return Path(log_path).with_name(Path(log_path).stem + ".head.json")


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(prev: str, body: dict[str, Any]) -> str:
    return hashlib.sha256(prev.encode("ascii") + _canonical(body)).hexdigest()


def _parse(line: bytes) -> tuple[dict | None, str, str]:
    """(the parsed line, "", "") when it is an event line, or (None, kind, why) when it is not."""
    if len(line) > MAX_LINE_BYTES:
        return None, "malformed", f"a line longer than {MAX_LINE_BYTES} bytes"
    try:
        raw = load_json(line, max_bytes=MAX_LINE_BYTES, max_depth=MAX_LINE_DEPTH)
    except UntrustedJSON as error:
        if error.reason.startswith(("not valid JSON", "not UTF-8")):
            return None, "torn", "unreadable line (a crash while writing?)"
        return None, "malformed", error.reason
    problem = line_problem(raw)
    if problem is not None:
        return None, "malformed", f"not an event ({problem})"
    return raw, "", ""


def _event(raw: dict) -> Event:
    """The Event of a line ``_parse`` accepted (its envelope is well-typed; ``ts`` may be written as an int)."""
    return Event(seq=raw["seq"], ts=float(raw["ts"]), type=raw["type"], milestone=raw.get("milestone"),
                 data=raw.get("data", {}), prev=raw["prev"], hash=raw["hash"])


def read_log(path: Path, *, required: bool = False) -> LogReading:
    """Read every event, verifying the chain and the head beside the log; never raises on bad content.

    ``required``: the log must exist (a workspace's ``init`` wrote it), so a missing one is a loss.
    """
    reading = LogReading()
    head = _read_head(head_path(path), reading)
    try:
        size = Path(path).stat().st_size
        raw = Path(path).read_bytes() if size <= MAX_LOG_BYTES else None
    except FileNotFoundError:
        if head is not None or required:
            recorded = f" ({head.events} events recorded by its head)" if head is not None else ""
            reading.problems.append(LogProblem(0, "loss", f"events.jsonl is missing: the log was deleted{recorded}"))
        return reading
    if raw is None:
        reading.problems.append(LogProblem(0, "malformed", f"the log is larger than {MAX_LOG_BYTES} bytes; not read"))
        return reading
    hashes: list[str] = []
    expected_prev, expected_seq = GENESIS, 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        parsed, kind, why = _parse(line)
        if parsed is None:
            reading.problems.append(LogProblem(number, kind, why))
            continue
        event = _event(parsed)
        body = {key: parsed.get(key) for key in BODY_KEYS}
        if event.hash != chain_hash(event.prev, body):
            reading.problems.append(LogProblem(number, "chain",
                                               f"event {event.seq} was edited (its hash does not match)"))
        elif event.prev != expected_prev or event.seq != expected_seq:
            reading.problems.append(LogProblem(
                number, "chain",
                f"event {event.seq} does not follow event {expected_seq - 1} (a line was deleted or moved)"))
        problem = data_problem(event.type, event.data)
        if problem is None:
            reading.events.append(event)
        else:
            reading.unusable.append(event.seq)
            reading.problems.append(LogProblem(number, "unusable", f"event {event.seq} ({event.type}): {problem}; "
                                                                  "skipped"))
        hashes.append(event.hash)
        expected_prev, expected_seq = event.hash, event.seq + 1
    reading.count, reading.head = len(hashes), (hashes[-1] if hashes else GENESIS)
    if head is not None and (loss := _loss(head, reading.count, lambda i: hashes[i])) is not None:
        reading.problems.append(LogProblem(0, "loss", loss))
    return reading


def _read_head(path: Path, reading: LogReading) -> Head | None:
    try:
        raw = read_json_file(path, max_bytes=4096, max_depth=2)
    except FileNotFoundError:
        return None
    except (OSError, UntrustedJSON) as error:
        reading.problems.append(LogProblem(0, "head", f"{path.name} is unreadable ({error}); rewritten at the next "
                                                      "command"))
        return None
    events, last = (raw.get("events"), raw.get("head")) if isinstance(raw, dict) else (None, None)
    if isinstance(events, bool) or not isinstance(events, int) or events < 0 or not isinstance(last, str):
        reading.problems.append(LogProblem(0, "head", f"{path.name} is not a log head; rewritten at the next command"))
        return None
    return Head(events, last)


def _loss(head: Head, count: int, hash_at: Callable[[int], str]) -> str | None:
    """How the log differs from its head, or None. A head behind the log is only stale (a crash after an append)."""
    if head.events > count:
        lost = head.events - count
        return (f"events.jsonl holds {count} events but its head recorded {head.events}: "
                f"the last {lost} event{'s' * (lost != 1)} were cut off (truncated or removed)")
    if head.events and hash_at(head.events - 1) != head.head:
        return f"events.jsonl does not match its head at event {head.events - 1}: the log was replaced or rewritten"
    return None


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """What changes when a file is written, replaced or removed: (inode, size, mtime in ns), or None."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


class EventLog:
    """Appends events to ``path``; ``clock`` is injectable for tests.

    ``read`` parses and verifies the log once per command: later calls return the same reading while
    neither the log nor its head changed on disk, and this object's own appends extend it.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time, required: bool = False):
        self.path = Path(path)
        self.clock = clock
        self.required = required  # the log must exist: a missing one is a loss (see ``read_log``)
        self.lock = FileLock(str(self.path) + ".lock", timeout=LOCK_TIMEOUT_S)
        self._reading: tuple[tuple, LogReading] | None = None  # (the files' states when read, the reading)

    def _states(self) -> tuple:
        return _file_state(self.path), _file_state(head_path(self.path))

    def read(self) -> LogReading:
        states = self._states()
        if self._reading is not None and self._reading[0] == states:
            return self._reading[1]
        reading = read_log(self.path, required=self.required)
        self._reading = (states, reading) if states == self._states() else None  # written meanwhile: not kept
        return reading

    def append(self, type: str, *, milestone: str | None = None, data: dict[str, Any] | None = None,
               ts: float | None = None) -> Event:
        with self.lock:
            before = self._states()
            last = self._last_event()
            loss = self._loss(last)
            if loss is not None:  # record it in the chain before the head moves on and the evidence is gone
                last = self._write_event(last, "log_loss", None, {"detail": loss[0], **loss[1]}, ts)
            event = self._write_event(last, type, milestone, data or {}, ts)
            write_json_atomic(head_path(self.path), {"version": HEAD_VERSION, "events": event.seq + 1,
                                                     "head": event.hash})
            self._extend_reading(before, event, recorded_loss=loss is not None)
            return event

    def _extend_reading(self, before: tuple, event: Event, *, recorded_loss: bool) -> None:
        """Keep the cached reading current after our own append, where it was current before it."""
        cached = self._reading
        self._reading = None
        if cached is None or cached[0] != before or recorded_loss or event.seq != cached[1].count \
                or data_problem(event.type, event.data) is not None \
                or any(problem.kind in ("head", "loss") for problem in cached[1].problems):
            return  # read again at the next ``read``
        old = cached[1]  # a new reading: a caller may still hold the old one
        reading = LogReading(events=[*old.events, event], problems=list(old.problems), count=event.seq + 1,
                             head=event.hash, unusable=list(old.unusable))
        self._reading = (self._states(), reading)

    def _write_event(self, last: Event | None, type: str, milestone: str | None, data: dict[str, Any],
                     ts: float | None) -> Event:
        seq = last.seq + 1 if last else 0
        prev = last.hash if last else GENESIS
        body = {"v": LOG_VERSION, "seq": seq, "ts": float(self.clock() if ts is None else ts), "type": type,
                "milestone": milestone, "data": data, "prev": prev}
        line = dict(body, hash=chain_hash(prev, body))
        self._write_line(_canonical(line))
        return Event(seq=seq, ts=body["ts"], type=type, milestone=milestone, data=data, prev=prev, hash=line["hash"])

    def _loss(self, last: Event | None) -> tuple[str, dict[str, int]] | None:
        """A loss the head shows and the log has not recorded yet: (detail, counts), or None."""
        reading = LogReading()
        head = _read_head(head_path(self.path), reading)
        count = last.seq + 1 if last else 0
        if last is None and not self.path.exists() and (head is not None or self.required):
            recorded = head.events if head is not None else None
            return ("events.jsonl was missing: the log was deleted"
                    + (f" ({recorded} events recorded by its head)" if recorded is not None else ""),
                    {"found_events": 0} | ({"recorded_events": recorded} if recorded is not None else {}))
        if head is None:
            return None
        detail = _loss(head, count, lambda i: last.hash if last is not None and i == last.seq else head.head)
        return (detail, {"recorded_events": head.events, "found_events": count}) if detail else None

    def _last_event(self) -> Event | None:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        for line in reversed(raw.split(b"\n")):
            if line.strip() and (parsed := _parse(line)[0]) is not None:
                return _event(parsed)
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
