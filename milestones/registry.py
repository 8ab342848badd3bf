"""Load every ``milestones/NN_id/milestone.yaml`` into typed models and look
milestones up by id, folder name or number, with a "did you mean" on typos."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from milestones.errors import MilestonesError
from milestones.schema import (
    FORMAT_VERSION,
    Groups,
    Milestone,
    MilestoneFormatError,
    Questions,
    describe_validation_error,
)

MILESTONES_DIR = Path(__file__).resolve().parent
_FOLDER = re.compile(r"^(\d\d)_([a-z][a-z0-9_]*)$")
Model = TypeVar("Model", bound=BaseModel)


class UnknownMilestone(MilestonesError, LookupError):
    def __init__(self, name: str, suggestions: list[str], known: list[str]):
        self.name = name
        self.suggestions = suggestions
        self.known = known
        super().__init__(name)


def read_yaml_mapping(path: Path) -> dict:
    """The top-level mapping of a data file, refused if missing, malformed or from a newer harness."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MilestoneFormatError(path, ["file is missing"]) from None
    except yaml.YAMLError as error:
        raise MilestoneFormatError(path, [f"not valid YAML: {error}"]) from None
    if not isinstance(raw, dict):
        raise MilestoneFormatError(path, ["expected a mapping of fields at the top level"])
    version = raw.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise MilestoneFormatError(
            path,
            [f"format_version: {version} is newer than this harness understands ({FORMAT_VERSION})"],
            newer=True,
        )
    return raw


def read_yaml_model(path: Path, model: type[Model], **extra: object) -> Model:
    """Parse ``path`` into ``model``; every problem names the file and the field."""
    raw = read_yaml_mapping(path)
    try:
        return model.model_validate({**raw, **extra})
    except ValidationError as error:
        raise MilestoneFormatError(path, describe_validation_error(error)) from None


@dataclass(frozen=True)
class Registry:
    root: Path
    milestones: tuple[Milestone, ...]
    groups: Groups
    questions: Questions

    def folder(self, milestone: Milestone) -> Path:
        return self.root / milestone.folder

    def get(self, name: str) -> Milestone:
        """Find a milestone by id (``attention``), folder (``01_attention``) or number (``1``)."""
        key = name.strip().lower()
        for milestone in self.milestones:
            if key in (milestone.id, milestone.folder) or (key.isdigit() and int(key) == milestone.number):
                return milestone
        known = [m.id for m in self.milestones]
        candidates = known + [m.folder for m in self.milestones]
        close = difflib.get_close_matches(key, candidates, n=3, cutoff=0.5)
        suggestions = list(dict.fromkeys(m.split("_", 1)[1] if _FOLDER.match(m) else m for m in close))
        raise UnknownMilestone(name, suggestions, known)

    def core(self) -> list[Milestone]:
        return [m for m in self.milestones if not m.bonus]

    def shared_questions(self) -> list[str]:
        return list(self.questions.shared)

    def questions_for(self, milestone: Milestone) -> list[str]:
        return list(dict.fromkeys(self.questions.shared + milestone.self_questions))


def load_registry(root: Path | None = None) -> Registry:
    """Read and validate every milestone under ``root`` (default: this package)."""
    return _load(Path(root) if root else MILESTONES_DIR)


@lru_cache(maxsize=8)
def _load(root: Path) -> Registry:
    groups = read_yaml_model(root / "groups.yaml", Groups)
    questions = read_yaml_model(root / "questions.yaml", Questions)
    found: list[Milestone] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and _FOLDER.match(p.name)):
        path = folder / "milestone.yaml"
        milestone = read_yaml_model(path, Milestone, folder=folder.name)
        expected_id = _FOLDER.match(folder.name).group(2)
        if milestone.id != expected_id:
            raise MilestoneFormatError(path, [f"id: '{milestone.id}' does not match the folder name '{folder.name}'"])
        if milestone.target_group not in groups.groups:
            raise MilestoneFormatError(path, [f"target_group: '{milestone.target_group}' is not in groups.yaml"])
        unknown = [q for q in milestone.self_questions if q not in questions.questions]
        if unknown:
            raise MilestoneFormatError(path, [f"self_questions: unknown question id(s) {unknown} (see questions.yaml)"])
        found.append(milestone)
    ids = [m.id for m in found]
    for milestone in found:
        missing = [p for p in milestone.prerequisites if p not in ids]
        if missing:
            raise MilestoneFormatError(
                root / milestone.folder / "milestone.yaml", [f"prerequisites: unknown milestone(s) {missing}"]
            )
    return Registry(root=root, milestones=tuple(found), groups=groups, questions=questions)
