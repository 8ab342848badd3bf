"""What comes after a pass: the next step, and where the clock goes.

After a milestone passes, the learner reflects on it and starts the next one.
The clock would otherwise keep running on the passed milestone and add to its
time; the learner chooses to pause it, to move it to the next milestone (which
starts it), or to keep it running. The choice is recorded in the log with the
pause or the start it causes (``after_pass`` / ``after_pass_of``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from challenge.record.progress import derive_progress
from challenge.record.timekeeping import account
from challenge.record.workspace import Workspace
from milestones import Milestone, Registry


class AfterPass(str, Enum):
    pause = "pause"
    next = "next"
    keep = "keep"


@dataclass(frozen=True)
class PassState:
    milestone: Milestone
    next: Milestone | None  # the milestone to start now; None when every one is passed
    first_pass: bool  # this run is the milestone's first pass
    clock_here: bool  # the clock runs on this milestone now
    reflected: bool  # the learner has answered the self-questions for it


def next_milestone(registry: Registry, passed: set[str], current: Milestone) -> Milestone | None:
    """The first milestone not passed after ``current`` (core before bonus); then any core one left behind."""
    order = [m for m in registry.milestones if m.id != current.id and m.id not in passed]
    core = [m for m in order if not m.bonus]
    later = [m for m in core if m.number > current.number]
    if later:
        return later[0]
    if core:
        return core[0]
    bonus = [m for m in order if m.number > current.number] or order
    return bonus[0] if bonus else None


def pass_state(*, workspace: Workspace, registry: Registry, milestone: Milestone) -> PassState:
    """Where things stand right after ``milestone`` passed (its passing test is logged already)."""
    events = workspace.log.read().events
    progress = derive_progress(events)
    item = progress[milestone.id]
    passes = sum(1 for a in item.attempts if a.status == "pass")
    clock = account(events, now=workspace.clock(), idle_threshold_s=workspace.config.idle_threshold_s)
    passed = {mid for mid, p in progress.items() if p.passed}
    return PassState(milestone, next_milestone(registry, passed, milestone), first_pass=passes == 1,
                     clock_here=clock.running and clock.current == milestone.id, reflected=item.reflection is not None)


def next_step(state: PassState) -> str:
    """'Next: reflect on attention (challenge reflect attention), then challenge start multihead.'"""
    m = state.milestone
    then = f"challenge start {state.next.id}" if state.next else "challenge report, then challenge submit"
    if state.reflected:
        return f"Next: {then}."
    return f"Next: reflect on {m.id} (challenge reflect {m.id}), then {then}."


def choices(state: PassState) -> dict[str, str]:
    """What the learner may do with the clock now, as the question offers it."""
    found = {AfterPass.pause.value: f"pause the clock on {state.milestone.id}"}
    if state.next is not None:
        found[AfterPass.next.value] = f"start {state.next.id} now: the clock moves there"
    found[AfterPass.keep.value] = f"keep it running on {state.milestone.id}"
    return found
