"""Plain functions behind the bookkeeping commands (start, pause, resume,
log-time, hint, peek) and the activity sampling every command does.

They take keyword-only arguments, log to the workspace's event log and return
small result objects; rendering happens in ``challenge.commands``.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from challenge.errors import ChallengeError, UsageError
from challenge.record.eventlog import LogReading
from challenge.feedback.hints import HintOffer
from challenge.record.progress import MilestoneProgress, derive_progress
from challenge.record.timekeeping import account
from challenge.record.workspace import Workspace
from milestones import Milestone, Registry


@dataclass(frozen=True)
class StartResult:
    milestone: Milestone
    learner_file: Path
    created: bool  # False: it existed and was left untouched
    first_start: bool
    missing_prerequisites: list[str]


def _reading(workspace: Workspace) -> LogReading:
    return workspace.log.read()


def progress_of(workspace: Workspace, milestone: Milestone) -> MilestoneProgress:
    return derive_progress(_reading(workspace).events).get(milestone.id, MilestoneProgress(milestone.id))


def record_edits(*, workspace: Workspace, registry: Registry) -> int:
    """Log the modification times of learner files changed since the last event.

    Editing is activity even when no command runs; the idle-gap rule needs to
    see it. Returns how many edits were recorded.
    """
    events = _reading(workspace).events
    since = events[-1].ts if events else workspace.config.created_at
    now = workspace.clock()
    edits: list[float] = []
    for milestone in registry.milestones:
        folder = workspace.milestone_dir(milestone.folder)
        if not folder.is_dir():
            continue
        for path in folder.glob("*.py"):
            mtime = path.stat().st_mtime
            if since < mtime <= now:
                edits.append(round(mtime, 3))
    if edits:
        workspace.log.append("activity", data={"edits": sorted(set(edits))})
    return len(edits)


def start_milestone(*, workspace: Workspace, registry: Registry, milestone: Milestone,
                    predict_hours: float | None = None, predict_pass: float | None = None,
                    after_pass_of: str | None = None) -> StartResult:
    """``after_pass_of``: the milestone whose pass the learner moved on from (recorded with the start)."""
    if predict_hours is not None and not 0 < predict_hours <= 200:
        raise UsageError("--predict-hours must be between 0 and 200.", "Example: --predict-hours 2.5")
    if predict_pass is not None and not 0 <= predict_pass <= 1:
        raise UsageError("--predict-pass is a probability between 0 and 1.", "Example: --predict-pass 0.6")
    source = registry.folder(milestone)
    target_dir = workspace.milestone_dir(milestone.folder)
    target_dir.mkdir(parents=True, exist_ok=True)
    learner_file = target_dir / milestone.learner_file
    created = not learner_file.exists()
    if created:
        shutil.copyfile(source / "stub.py", learner_file)
    readme = target_dir / "README.md"
    if not readme.exists():
        shutil.copyfile(source / "README.md", readme)
    events = _reading(workspace).events
    progress = derive_progress(events)
    first_start = not progress.get(milestone.id, MilestoneProgress(milestone.id)).started
    data: dict = {"learner_file": str(learner_file.relative_to(workspace.root))}
    if first_start:
        data.update(predict_hours=predict_hours, predict_pass=predict_pass)
    if after_pass_of:
        data["after_pass_of"] = after_pass_of
    workspace.log.append("start", milestone=milestone.id, data=data)
    passed = {mid for mid, item in progress.items() if item.passed}
    missing = [p for p in milestone.prerequisites if p not in passed]
    return StartResult(milestone, learner_file, created, first_start, missing)


def require_started(*, workspace: Workspace, milestone: Milestone) -> MilestoneProgress:
    item = progress_of(workspace, milestone)
    if not item.started:
        raise UsageError(f"Milestone '{milestone.id}' is not started.", f"Start it: challenge start {milestone.id}")
    return item


def record_predictions(*, workspace: Workspace, milestone: Milestone, hours: float | None,
                       chance: float | None) -> MilestoneProgress:
    """Record the predictions `start` did not get, before the milestone's first test; returns the progress after.

    A prediction already recorded stays as it was made (giving the same value again is fine).
    """
    item = require_started(workspace=workspace, milestone=milestone)
    if item.attempts:
        raise UsageError(f"{milestone.id} has been tested already ({len(item.attempts)} attempt"
                         f"{'s' if len(item.attempts) != 1 else ''}): predictions count only before the first test.",
                         f"Before a later test, say how sure you are: challenge test {milestone.id} --confidence 70%")
    for name, given, recorded in (("hours", hours, item.predicted_hours), ("chance of passing", chance,
                                                                           item.predicted_pass)):
        if given is not None and recorded is not None and given != recorded:
            raise UsageError(f"The {name} prediction for {milestone.id} is recorded already ({recorded:g}); "
                             "a prediction stays as it was made.", "")
    data = {key: value for key, value, recorded in (("predict_hours", hours, item.predicted_hours),
                                                    ("predict_pass", chance, item.predicted_pass))
            if value is not None and recorded is None}
    if not data and item.predicted_hours is None and item.predicted_pass is None:
        raise UsageError("Nothing to record.", f"Example: challenge predict {milestone.id} --hours 2 --pass 60%")
    if data:
        workspace.log.append("prediction", milestone=milestone.id, data={"kind": "at_start", **data})
    return progress_of(workspace, milestone)


def pause_clock(*, workspace: Workspace, after_pass: bool = False) -> str:
    """Pause the clock; ``after_pass``: the learner chose it after passing (recorded with the pause)."""
    state = account(_reading(workspace).events, now=workspace.clock())
    if not state.running:
        raise UsageError("The clock is not running.", "Resume it with `challenge resume` or start a milestone.")
    workspace.log.append("pause", milestone=state.current, data={"after_pass": True} if after_pass else {})
    return state.current or ""


def resume_clock(*, workspace: Workspace) -> str:
    state = account(_reading(workspace).events, now=workspace.clock())
    if state.running:
        raise UsageError("The clock is already running.",
                         f"You are on '{state.current}'. Pause with `challenge pause`.")
    if not state.current:
        raise UsageError("No milestone has been started yet.", "Start one: challenge start attention")
    workspace.log.append("resume", milestone=state.current)
    return state.current


def log_time(*, workspace: Workspace, milestone: Milestone, seconds: float, note: str) -> None:
    if seconds == 0:
        raise UsageError("A time adjustment of zero changes nothing.", "Example: --add 1h30m or --add -20m")
    if abs(seconds) > 24 * 3600:
        raise UsageError("One adjustment may not exceed 24 hours.", "Split it per day, each with its own note.")
    if not note.strip():
        raise UsageError("Say why with --note: adjustments are shown as self-reported in the report.",
                         'Example: --note "worked offline on the train"')
    workspace.log.append("time_adjust", milestone=milestone.id, data={"seconds": seconds, "note": note.strip()})


def offer_next_hint(*, workspace: Workspace, milestone: Milestone) -> HintOffer:
    """The hint to offer next (nothing logged yet): aimed at the latest failed attempt's diagnosis where one fits."""
    from challenge.feedback.hints import offer_hint, read_evidence

    item = require_started(workspace=workspace, milestone=milestone)
    failed = next((a for a in reversed(item.attempts) if a.status != "pass"), None)
    evidence = read_evidence(workspace.root / failed.results_file) if failed and failed.results_file else None
    return offer_hint(milestone.hints, item.hints_taken, evidence)


@dataclass(frozen=True)
class HintResult:
    index: int  # 0-based, into the milestone's hints
    total: int
    text: str | None  # None: no hints left
    offer: HintOffer


def take_hint(*, workspace: Workspace, milestone: Milestone, offer: HintOffer | None = None) -> HintResult:
    """Log the offered hint (by default: ``offer_next_hint``'s) as help used; ``text`` None when none is left."""
    if offer is None:
        offer = offer_next_hint(workspace=workspace, milestone=milestone)
    total = len(milestone.hints)
    if offer.index is None:
        return HintResult(total, total, None, offer)
    data: dict = {"index": offer.index}
    if offer.aimed_at:
        data["aimed_at"] = offer.aimed_at
    workspace.log.append("hint", milestone=milestone.id, data=data)
    return HintResult(offer.index, total, milestone.hints[offer.index].text, offer)


@dataclass(frozen=True)
class PeekPlan:
    path: Path  # the reference solution
    forced: bool  # before any failed attempt (--force)
    before_pass: bool  # the milestone is not passed yet: the peek weighs on its verdict


def plan_peek(*, workspace: Workspace, registry: Registry, milestone: Milestone, force: bool) -> PeekPlan:
    """Whether the reference may be shown now (nothing logged yet).

    The challenge's soft rule: look at a solution only after you tried.
    """
    item = require_started(workspace=workspace, milestone=milestone)
    if not force and item.failed_attempts == 0 and not item.passed:
        raise ChallengeError(
            f"No attempt at '{milestone.id}' has been graded yet.",
            f"Try first: challenge test {milestone.id}. "
            f"To look anyway (logged as help): challenge peek {milestone.id} --force")
    path = registry.folder(milestone) / "reference.py"
    if not path.is_file():
        raise ChallengeError(f"Milestone '{milestone.id}' ships no reference solution.", "")
    return PeekPlan(path, forced=bool(force and item.failed_attempts == 0), before_pass=not item.passed)


def record_peek(*, workspace: Workspace, milestone: Milestone, plan: PeekPlan) -> None:
    workspace.log.append("peek", milestone=milestone.id, data={"forced": plan.forced})
