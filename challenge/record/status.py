"""The plain function behind `challenge status` (and ``challenge.api.status``): where the
clock is and the time, attempts and help per started milestone, as one small typed object.
Rendering happens in ``challenge.commands.workspace``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from rich import box
from rich.table import Table

from challenge.output import Output
from challenge.record.durations import format_duration
from challenge.record.eventlog import LogReading
from challenge.record.progress import derive_progress
from challenge.record.timekeeping import account
from challenge.record.workspace import Workspace
from milestones import Registry


@dataclass(frozen=True)
class MilestoneStatus:
    id: str
    status: str  # passed | in progress
    active_s: float
    idle_s: float
    paused_s: float
    adjusted_s: float  # self-reported with `challenge log-time`
    tests: int  # attempts
    hints_used: int
    hints_total: int
    peeks: int


@dataclass(frozen=True)
class StatusSnapshot:
    handle: str
    root: str
    running: bool  # the clock runs
    current: str | None  # the milestone the clock is on (paused or not)
    milestones: list[MilestoneStatus]  # the started ones, in the challenge's order
    total_s: float
    total_adjusted_s: float
    warnings: list[str] = field(default_factory=list)  # what is wrong with the event log, in words

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "StatusSnapshot":
        data = dict(raw)
        data["milestones"] = [MilestoneStatus(**item) for item in raw.get("milestones", [])]
        return cls(**data)

    def _repr_html_(self) -> str:
        from challenge.notebook.html import html_of

        return html_of(lambda out: render_status(out, self))


def read_status(*, workspace: Workspace, registry: Registry) -> StatusSnapshot:
    reading = workspace.log.read()
    times = account(reading.events, now=workspace.clock(), idle_threshold_s=workspace.config.idle_threshold_s)
    progress = derive_progress(reading.events)
    rows = []
    for m in registry.milestones:
        item = progress.get(m.id)
        if not item or not item.started:
            continue
        t = times.of(m.id)
        rows.append(MilestoneStatus(id=m.id, status=item.status, active_s=t.active_s, idle_s=t.idle_s,
                                    paused_s=t.paused_s, adjusted_s=t.adjusted_s, tests=len(item.attempts),
                                    hints_used=item.hints_used, hints_total=len(m.hints), peeks=item.peeks))
    return StatusSnapshot(handle=workspace.handle, root=str(workspace.root), running=times.running,
                          current=times.current, milestones=rows, total_s=times.total.total_s,
                          total_adjusted_s=times.total.adjusted_s, warnings=log_warnings(reading))


def log_warnings(reading: LogReading) -> list[str]:
    """What a reading of the event log found wrong, one sentence each."""
    warnings = []
    for problem in reading.problems:
        if problem.kind in ("torn", "malformed", "unusable"):
            warnings.append(f"events.jsonl line {problem.line}: {problem.detail}; skipped.")
        elif problem.kind == "head":
            warnings.append(problem.detail)
        elif problem.kind == "chain":
            warnings.append(f"events.jsonl line {problem.line}: {problem.detail}. The log's integrity check fails.")
    for loss in reading.losses:
        warnings.append(f"events were lost from your log: {loss}. The time, attempts and help they held are gone; "
                        "`challenge submit` will need --accept-log-loss (the loss is recorded in the bundle). "
                        "Restore events.jsonl from a backup if you have one.")
    return warnings


STATUS_STYLE = {"passed": "green", "in progress": "yellow", "not started": "dim"}


def render_status(sink: Output, snapshot: StatusSnapshot) -> None:
    sink.text(f"Workspace [bold]{sink.untrusted(snapshot.handle)}[/bold] at {sink.untrusted(snapshot.root)}")
    clock = "[green]running[/green]" if snapshot.running else "[yellow]paused[/yellow]" if snapshot.current \
        else "not started"
    sink.text(f"Clock: {clock}" + (f" on [bold]{snapshot.current}[/bold]" if snapshot.current else ""))
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), collapse_padding=True, show_edge=False)
    for column in ("milestone", "status", "active", "idle", "paused", "adjusted", "tests", "hints", "peeks"):
        table.add_column(column, no_wrap=True)
    for row in snapshot.milestones:
        table.add_row(row.id, f"[{STATUS_STYLE.get(row.status, 'dim')}]{row.status}[/]",
                      format_duration(row.active_s), format_duration(row.idle_s), format_duration(row.paused_s),
                      format_duration(row.adjusted_s) if row.adjusted_s else "", str(row.tests),
                      f"{row.hints_used}/{row.hints_total}", str(row.peeks))
    if table.row_count:
        sink.table(table)
        adjusted = f" (including {format_duration(snapshot.total_adjusted_s)} self-reported)" \
            if snapshot.total_adjusted_s else ""
        sink.text(f"Total time: {format_duration(snapshot.total_s)}{adjusted}")  # the table's unit
    else:
        sink.text("No milestone started yet: [bold]challenge start attention[/bold]")
    for warning in snapshot.warnings:
        sink.warn(warning)
