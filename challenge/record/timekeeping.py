"""Active time from the event log: a pure function of events and "now".

The clock runs from ``start`` until ``pause``, and again from ``resume``.
Between two consecutive activity points while the clock runs, a gap no longer
than the idle threshold counts as active; a longer gap counts as idle, all of
it (the learner walked away). Activity points are every logged command, every
file edit the harness saw (``edits`` in activity events) and the span of a
training run (``busy_s``: the seconds before the event that were busy, however
long). Self-reported adjustments (``log-time``) are kept apart so the report
can show them as what they are.

Time goes to the milestone worked on most recently (``start``, ``test``,
``train``, ``watch`` switch it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from challenge.record.eventlog import Event

DEFAULT_IDLE_THRESHOLD_S = 30 * 60
SWITCHING_EVENTS = {"start", "test", "train", "watch"}


@dataclass
class MilestoneTime:
    active_s: float = 0.0
    idle_s: float = 0.0
    paused_s: float = 0.0
    adjusted_s: float = 0.0  # self-reported with `log-time`, may be negative

    @property
    def clock_s(self) -> float:
        """Wall-clock time while the clock ran (active + idle), pauses excluded."""
        return self.active_s + self.idle_s

    @property
    def total_s(self) -> float:
        """Active time plus self-reported adjustments: the figure compared with targets."""
        return max(0.0, self.active_s + self.adjusted_s)


@dataclass
class TimeAccount:
    per_milestone: dict[str, MilestoneTime] = field(default_factory=dict)
    running: bool = False
    current: str | None = None

    def of(self, milestone: str) -> MilestoneTime:
        return self.per_milestone.setdefault(milestone, MilestoneTime())

    @property
    def total(self) -> MilestoneTime:
        total = MilestoneTime()
        for item in self.per_milestone.values():
            total.active_s += item.active_s
            total.idle_s += item.idle_s
            total.paused_s += item.paused_s
            total.adjusted_s += item.adjusted_s
        return total


@dataclass(frozen=True)
class _Point:
    ts: float
    order: int  # keeps the log's order among equal timestamps
    event: Event | None  # None: an edit seen on disk
    busy_s: float = 0.0


def _points(events: Iterable[Event]) -> list[_Point]:
    points: list[_Point] = []
    for event in events:
        busy = event.data.get("busy_s", 0)
        busy = float(busy) if isinstance(busy, (int, float)) and not isinstance(busy, bool) and busy > 0 else 0.0
        points.append(_Point(event.ts, event.seq * 2 + 1, event, busy))
        edits = event.data.get("edits", [])
        for edit_ts in edits if isinstance(edits, list) else []:
            if isinstance(edit_ts, (int, float)) and edit_ts <= event.ts:
                points.append(_Point(float(edit_ts), event.seq * 2, None))
    return sorted(points, key=lambda p: (p.ts, p.order))


def account(events: Iterable[Event], *, now: float, idle_threshold_s: float = DEFAULT_IDLE_THRESHOLD_S) -> TimeAccount:
    result = TimeAccount()
    last: float | None = None  # last activity point while running
    paused_since: float | None = None

    def close(until: float, busy_s: float = 0.0) -> None:
        if not result.running or result.current is None or last is None or until <= last:
            return
        gap = until - last
        busy = min(busy_s, gap)
        rest = gap - busy  # the part before the busy span is judged like any gap
        slot = result.of(result.current)
        slot.active_s += busy
        if rest <= idle_threshold_s:
            slot.active_s += rest
        else:
            slot.idle_s += rest

    for point in _points(events):
        event = point.event
        kind = event.type if event else "edit"
        if kind == "time_adjust" and event is not None and event.milestone:
            seconds = event.data.get("seconds", 0)
            if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
                result.of(event.milestone).adjusted_s += float(seconds)
            continue
        if kind == "pause":
            close(point.ts)
            if result.running:
                result.running, paused_since = False, point.ts
            continue
        if kind == "resume":
            if not result.running and paused_since is not None and result.current:
                result.of(result.current).paused_s += point.ts - paused_since
            if result.current:
                result.running, paused_since, last = True, None, point.ts
            continue
        close(point.ts, point.busy_s)
        if result.running or kind == "start":
            last = max(point.ts, last or point.ts)
        if event is not None and kind in SWITCHING_EVENTS and event.milestone:
            if kind == "start" and not result.running:
                if paused_since is not None and result.current:
                    result.of(result.current).paused_s += point.ts - paused_since
                result.running, paused_since, last = True, None, point.ts
            result.current = event.milestone
            result.of(event.milestone)
    close(now)
    if not result.running and paused_since is not None and result.current:
        result.of(result.current).paused_s += max(0.0, now - paused_since)
    return result
