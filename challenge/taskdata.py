"""The harness's data for a milestone: which task it reads, prepared from the
local data folder or the hub, cached per workspace."""

from __future__ import annotations

import os
from pathlib import Path

from challenge.errors import UsageError
from challenge.workspace import Workspace
from milestones import Milestone


def task_name(milestone: Milestone) -> str | None:
    """The harness task a milestone trains on, or whose data its tests use."""
    return milestone.training.task if milestone.training else milestone.grading.task


def prepare_data(milestone: Milestone, *, cache_dir: Path):
    """The harness's data set for ``milestone`` (local CHALLENGE_DATA_DIR or the hub)."""
    from milestones.tasks import prepare_task

    name = task_name(milestone)
    if name is None:
        raise UsageError(f"'{milestone.id}' reads no harness data.", f"Test it with `challenge test {milestone.id}`.")
    data_dir = os.environ.get("CHALLENGE_DATA_DIR")
    return prepare_task(name, data_dir=Path(data_dir) if data_dir else None, cache_dir=cache_dir)


def cache_dir_of(workspace: Workspace) -> Path:
    return workspace.root / ".cache"
