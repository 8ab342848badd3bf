"""The harness's data for a milestone: which task it reads, prepared from the
local data folder or the hub, cached per workspace."""

from __future__ import annotations

from pathlib import Path

from challenge.errors import FIX_HINT, ChallengeError, UsageError
from challenge.record.workspace import Workspace
from milestones import Milestone


def task_name(milestone: Milestone) -> str | None:
    """The harness task a milestone trains on, or whose data its tests use."""
    return milestone.training.task if milestone.training else milestone.grading.task


def prepare_data(milestone: Milestone, *, cache_dir: Path):
    """The harness's data set for ``milestone`` ($CHALLENGE_DATA_DIR, the data cache folder or the hub).
    Without it, the error names the milestone, the data set and the command that gets it."""
    from milestones.tasks import DataUnavailable, prepare_task

    name = task_name(milestone)
    if name is None:
        raise UsageError(f"'{milestone.id}' reads no harness data.", f"Test it with `challenge test {milestone.id}`.")
    try:
        return prepare_task(name, data_dir=None, cache_dir=cache_dir)
    except DataUnavailable as error:
        raise ChallengeError(f"'{milestone.id}' has no data to work with. {error}", FIX_HINT) from None


def cache_dir_of(workspace: Workspace) -> Path:
    return workspace.root / ".cache"
