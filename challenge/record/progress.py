"""Per-milestone progress derived from the event log (no state file to drift)."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from typing import Any, Iterable

from challenge.record.eventlog import Event


@dataclass(frozen=True)
class Attempt:
    ts: float
    status: str  # pass | fail | error
    passed: int
    total: int
    confidence: float | None  # "how sure are you this passes?", asked before the run
    builtins_used: tuple[str, ...] = ()
    results_file: str | None = None


@dataclass
class MilestoneProgress:
    id: str
    started_at: float | None = None
    predicted_hours: float | None = None
    predicted_pass: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    hints_taken: set[int] = field(default_factory=set)  # indices into the milestone's hints
    peeks: int = 0
    trainings: int = 0
    stub_runs: int = 0  # tests of the untouched stub: not attempts (nothing was tried yet)
    reflection: dict[str, Any] | None = None
    reflections_replaced: int = 0

    @property
    def hints_used(self) -> int:
        return len(self.hints_taken)

    @property
    def started(self) -> bool:
        return self.started_at is not None

    @property
    def passed(self) -> bool:
        return any(a.status == "pass" for a in self.attempts)

    @property
    def first_pass(self) -> bool:
        return bool(self.attempts) and self.attempts[0].status == "pass"

    @property
    def passed_at(self) -> float | None:
        return next((a.ts for a in self.attempts if a.status == "pass"), None)

    @property
    def failed_attempts(self) -> int:
        return sum(1 for a in self.attempts if a.status != "pass")

    @property
    def status(self) -> str:
        if self.passed:
            return "passed"
        return "in progress" if self.started or self.attempts else "not started"


def derive_progress(events: Iterable[Event]) -> dict[str, MilestoneProgress]:
    progress: dict[str, MilestoneProgress] = {}
    pending_confidence: dict[str, float] = {}
    for event in events:
        if not event.milestone:
            continue
        item = progress.setdefault(event.milestone, MilestoneProgress(event.milestone))
        data = event.data
        if event.type == "start":
            if item.started_at is None:
                item.started_at = event.ts
                item.predicted_hours = _number(data.get("predict_hours"))
                item.predicted_pass = _number(data.get("predict_pass"))
        elif event.type == "prediction" and data.get("kind") == "confidence":
            if (value := _number(data.get("value"))) is not None:
                pending_confidence[event.milestone] = value
        elif event.type == "prediction" and data.get("kind") == "at_start" and not item.attempts:
            # `challenge predict`: what `start` did not get, before the first test; never replaces a prediction
            if item.predicted_hours is None:
                item.predicted_hours = _number(data.get("predict_hours"))
            if item.predicted_pass is None:
                item.predicted_pass = _number(data.get("predict_pass"))
        elif event.type == "test" and is_stub_run(event):
            item.stub_runs += 1
            pending_confidence.pop(event.milestone, None)  # it was asked about this run
        elif event.type == "test":
            builtins = data.get("builtins_used", [])
            results_file = data.get("results_file")
            item.attempts.append(Attempt(
                ts=event.ts, status=str(data.get("status", "error")), passed=_count(data.get("passed")),
                total=_count(data.get("total")), confidence=pending_confidence.pop(event.milestone, None),
                builtins_used=tuple(str(b) for b in builtins) if isinstance(builtins, list) else (),
                results_file=results_file if isinstance(results_file, str) else None))
        elif event.type == "hint":
            item.hints_taken.add(_count(data.get("index")))
        elif event.type == "peek":
            item.peeks += 1
        elif event.type == "train" and data.get("phase") != "start":
            item.trainings += 1
        elif event.type == "reflect" and isinstance(data.get("answers"), dict):
            if item.reflection is not None:
                item.reflections_replaced += 1
            item.reflection = dict(data["answers"])
    return progress


@functools.lru_cache(maxsize=1)
def stub_sha256s() -> dict[str, str]:
    """Milestone id -> SHA-256 of its stub, the file `start` copies byte for byte."""
    from milestones import load_registry

    registry = load_registry()
    hashes = {}
    for milestone in registry.milestones:
        stub = registry.folder(milestone) / "stub.py"
        if stub.is_file():
            hashes[milestone.id] = hashlib.sha256(stub.read_bytes()).hexdigest()
    return hashes


def is_stub_run(event: Event) -> bool:
    """Whether a ``test`` event graded the untouched stub (its file's hash is the stub's) and it did not pass:
    a look at what the tests say, not an attempt, so neither the calibration's "first test" nor a failed try.
    A pass claimed for the stub stays an attempt: no honest run gives it, and `verify` must re-grade it."""
    digest = event.data.get("learner_file_sha256")
    return (bool(digest) and event.data.get("status") != "pass"
            and digest == stub_sha256s().get(event.milestone or ""))


def passed_ids(events: Iterable[Event]) -> set[str]:
    return {mid for mid, item in derive_progress(events).items() if item.passed}


def _count(value: Any) -> int:
    """A non-negative count from event data; anything unreadable counts as 0 (the log may be hand-edited)."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else 0


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

