"""What almost every command needs first: the workspace, the milestones, and a
sample of the learner's edits (evidence of activity)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from challenge.record.bookkeeping import record_edits
from challenge.record.workspace import Workspace, find_workspace
from milestones import Milestone, Registry, load_registry


@dataclass(frozen=True)
class Context:
    workspace: Workspace
    registry: Registry

    def milestone(self, name: str) -> Milestone:
        return self.registry.get(name)


def open_context(workspace: Path | None) -> Context:
    found = find_workspace(explicit=workspace)
    registry = load_registry()
    record_edits(workspace=found, registry=registry)
    return Context(found, registry)
