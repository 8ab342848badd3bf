"""A learner's workspace: a folder with ``workspace.json``, the event log and
one sub-folder per started milestone holding the learner's code and results.

Resolution order for every command: ``--workspace PATH``, then env
``CHALLENGE_WORKSPACE``, then the current folder (or one above it) if it is a
workspace, then the single workspace under ``./submissions`` (or, where there is none, right in the current
folder: run from inside ``submissions/``).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from challenge.errors import ChallengeError, WorkspaceExists, WorkspaceNotFound
from challenge.record.eventlog import EventLog
from challenge.safe_json import UntrustedJSON, read_model
from challenge.record.storage import write_json_atomic
from challenge.record.timekeeping import DEFAULT_IDLE_THRESHOLD_S

CONFIG_NAME = "workspace.json"
LOG_NAME = "events.jsonl"
WORKSPACE_FORMAT = 1
ENV_VAR = "CHALLENGE_WORKSPACE"
HANDLE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"
HANDLE = re.compile(HANDLE_PATTERN)
MAX_CONFIG_BYTES = 1024 * 1024


class ConfigDocument(BaseModel):
    """workspace.json as read: strictly typed, unknown keys ignored (the ``note`` it carries, say)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    handle: Annotated[str, Field(pattern=HANDLE_PATTERN)]
    created_at: Annotated[float, Field(allow_inf_nan=False)]
    idle_threshold_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] = DEFAULT_IDLE_THRESHOLD_S
    format_version: Annotated[int, Field(ge=1)] = WORKSPACE_FORMAT


@dataclass(frozen=True)
class WorkspaceConfig:
    handle: str
    created_at: float
    idle_threshold_s: float = DEFAULT_IDLE_THRESHOLD_S
    format_version: int = WORKSPACE_FORMAT

    def to_json(self) -> dict:
        return {"handle": self.handle, "created_at": self.created_at,
                "idle_threshold_s": self.idle_threshold_s, "format_version": self.format_version,
                "note": "Managed by `challenge`. Do not edit; the event log is the record."}


@dataclass(frozen=True)
class Workspace:
    root: Path
    config: WorkspaceConfig
    clock: Callable[[], float] = time.time

    @property
    def handle(self) -> str:
        return self.config.handle

    @cached_property
    def log(self) -> EventLog:
        """One per workspace object (one per command): it reads the log once and keeps the reading current."""
        return EventLog(self.root / LOG_NAME, clock=self.clock, required=True)

    def milestone_dir(self, folder: str) -> Path:
        return self.root / folder

    def results_dir(self, folder: str) -> Path:
        return self.root / folder / "results"


def read_config(path: Path) -> WorkspaceConfig:
    """workspace.json, read as untrusted JSON; raises ``UntrustedJSON`` (or OSError) saying why not."""
    document = read_model(ConfigDocument, path, max_bytes=MAX_CONFIG_BYTES)
    return WorkspaceConfig(handle=document.handle, created_at=document.created_at,
                           idle_threshold_s=document.idle_threshold_s, format_version=document.format_version)


def _load_config(root: Path) -> WorkspaceConfig:
    path = root / CONFIG_NAME
    try:
        config = read_config(path)
    except (OSError, UntrustedJSON) as error:
        raise ChallengeError(f"{path} is unreadable ({error}).",
                             "Restore it from a backup, "
                             "or re-create it with `challenge init` in a new folder.") from None
    if config.format_version > WORKSPACE_FORMAT:
        raise ChallengeError(f"{path} was written by a newer harness.", "Upgrade `challenge` to use this workspace.")
    return config


def is_workspace(path: Path) -> bool:
    return (path / CONFIG_NAME).is_file()


def init_workspace(*, handle: str, path: Path | None = None, base: Path | None = None,
                   idle_threshold_s: float = DEFAULT_IDLE_THRESHOLD_S,
                   clock: Callable[[], float] = time.time) -> Workspace:
    if not HANDLE.match(handle):
        raise ChallengeError(f"'{handle}' is not a usable handle.",
                             "Use 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit.")
    if idle_threshold_s <= 0:
        raise ChallengeError("The idle threshold must be positive.", "Try --idle-minutes 30.")
    root = Path(path) if path else Path(base or Path.cwd()) / "submissions" / handle
    if is_workspace(root):
        raise WorkspaceExists(f"A workspace already exists at {root}.", f"Use it: challenge status --workspace {root}")
    root.mkdir(parents=True, exist_ok=True)
    config = WorkspaceConfig(handle=handle, created_at=clock(), idle_threshold_s=idle_threshold_s)
    write_json_atomic(root / CONFIG_NAME, config.to_json())
    workspace = Workspace(root=root.resolve(), config=config, clock=clock)
    # the one append before a log exists: the workspace's own log is ``required`` from here on
    EventLog(workspace.root / LOG_NAME, clock=clock).append("init", data={"handle": handle,
                                                                         "idle_threshold_s": idle_threshold_s})
    return workspace


def open_workspace(root: Path, *, clock: Callable[[], float] = time.time) -> Workspace:
    root = Path(root)
    if not is_workspace(root):
        raise WorkspaceNotFound(f"{root} is not a challenge workspace.",
                                "Create one with `challenge init --handle NAME`, or pass --workspace PATH.")
    return Workspace(root=root.resolve(), config=_load_config(root), clock=clock)


def find_workspace(*, explicit: Path | None = None, cwd: Path | None = None,
                   clock: Callable[[], float] = time.time) -> Workspace:
    if explicit is not None:
        return open_workspace(explicit, clock=clock)
    if os.environ.get(ENV_VAR):
        return open_workspace(Path(os.environ[ENV_VAR]), clock=clock)
    here = Path(cwd or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_workspace(folder):
            return open_workspace(folder, clock=clock)
    # The workspaces in ./submissions, else those right here (a command run from inside submissions/).
    candidates = (sorted(p for p in (here / "submissions").glob("*") if is_workspace(p))
                  or sorted(p for p in here.glob("*") if is_workspace(p)))
    if len(candidates) == 1:
        return open_workspace(candidates[0], clock=clock)
    if not candidates:
        raise WorkspaceNotFound("No workspace found here.",
                                "Create one: challenge init --handle YOUR_NAME  (or pass --workspace PATH)")
    names = ", ".join(str(p.relative_to(here)) for p in candidates)
    raise WorkspaceNotFound(f"Several workspaces here: {names}.",
                            f"Pick one with --workspace {candidates[0].relative_to(here)} (or another of them), "
                            f"or set {ENV_VAR}.")
