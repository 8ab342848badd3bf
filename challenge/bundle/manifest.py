"""The bundle's manifest: what is inside, the sha256 of every file, and the
versions the learner's claims were made with.

Layout of a bundle (a zip, or the same tree as a folder with ``--export-dir``)::

    manifest.json                       this document
    README.md                           the report in Markdown (a pushed repository's front page)
    report/report.{md,html,json}        the self-calibration report; report/<plot>.png
    workspace/workspace.json            handle and idle threshold
    workspace/events.jsonl              the hash-chained event log (the record of every claim)
    workspace/NN_id/<learner file>      the learner's code, for every started milestone
    workspace/NN_id/results/*.json      every results document
    workspace/NN_id/checkpoints/...     training milestones: latest.json and that checkpoint

The manifest is not signed (there is no key to sign with): the hashes catch
a file changed or removed after ``submit``, the log's chain catches an edited
or deleted event, and the claims themselves are never trusted: ``verify``
re-grades the code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

SCHEMA = "challenge-bundle"
SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
README_NAME = "README.md"
WORKSPACE_DIR = "workspace"
REPORT_DIR = "report"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """The manifest is not a bundle manifest this harness understands."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class MilestoneEntry:
    """One started milestone and the grading its claims were made with."""

    id: str
    folder: str
    learner_file: str  # path inside the bundle; "" when the learner deleted it
    grader_version: str  # of the latest results document ("" when never tested)
    hidden_tests_sha256: str
    checkpoint: str | None = None  # folder inside the bundle, training milestones only


@dataclass(frozen=True)
class Manifest:
    handle: str
    created_at: float  # Unix seconds: when `submit` ran; the report's "now"
    harness_version: str
    grader_version: str  # the grader installed where `submit` ran
    environment: dict[str, Any]  # python, torch, os, machine, devices
    event_log: dict[str, Any]  # path, events, head (hash of the last event)
    milestones: list[MilestoneEntry]
    files: dict[str, FileEntry]  # every file of the bundle except the manifest itself
    schema: str = SCHEMA
    version: int = SCHEMA_VERSION

    def milestone(self, milestone_id: str) -> MilestoneEntry | None:
        return next((m for m in self.milestones if m.id == milestone_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema, "version": self.version, "handle": self.handle, "created_at": self.created_at,
            "harness_version": self.harness_version, "grader_version": self.grader_version,
            "environment": self.environment, "event_log": self.event_log,
            "milestones": [vars(m).copy() for m in self.milestones],
            "files": {name: {"sha256": e.sha256, "size": e.size} for name, e in sorted(self.files.items())},
        }

    @classmethod
    def from_dict(cls, raw: Any) -> "Manifest":
        """Validate and load; raises ManifestError naming the field."""
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise ManifestError(f"not a challenge bundle manifest (schema is not '{SCHEMA}')")
        version = raw.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ManifestError("version: missing or not a number")
        if version > SCHEMA_VERSION:
            raise ManifestError(f"version {version} is newer than this harness understands ({SCHEMA_VERSION}); "
                                "upgrade challenge")
        try:
            files = {str(name): _file_entry(name, entry) for name, entry in _mapping(raw, "files").items()}
            milestones = [_milestone_entry(item) for item in _list(raw, "milestones")]
            return cls(handle=_text(raw, "handle"), created_at=_number(raw, "created_at"),
                       harness_version=_text(raw, "harness_version"), grader_version=_text(raw, "grader_version"),
                       environment=_mapping(raw, "environment"), event_log=_mapping(raw, "event_log"),
                       milestones=milestones, files=files, version=version)
        except (TypeError, KeyError) as error:
            raise ManifestError(str(error)) from None


def _text(raw: dict, key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str):
        raise ManifestError(f"{key}: missing or not text")
    return value


def _number(raw: dict, key: str) -> float:
    value = raw.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ManifestError(f"{key}: missing or not a number")
    return float(value)


def _mapping(raw: dict, key: str) -> dict:
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ManifestError(f"{key}: missing or not a mapping")
    return value


def _list(raw: dict, key: str) -> list:
    value = raw.get(key)
    if not isinstance(value, list):
        raise ManifestError(f"{key}: missing or not a list")
    return value


def _file_entry(name: str, entry: Any) -> FileEntry:
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str) or not _SHA256.match(entry["sha256"]):
        raise ManifestError(f"files.{name}: sha256 missing or malformed")
    size = entry.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"files.{name}: size missing or not a count of bytes")
    return FileEntry(entry["sha256"], size)


def _milestone_entry(item: Any) -> MilestoneEntry:
    if not isinstance(item, dict):
        raise ManifestError("milestones: every entry must be a mapping")
    checkpoint = item.get("checkpoint")
    if checkpoint is not None and not isinstance(checkpoint, str):
        raise ManifestError("milestones.checkpoint: not text")
    return MilestoneEntry(id=_text(item, "id"), folder=_text(item, "folder"), learner_file=_text(item, "learner_file"),
                          grader_version=_text(item, "grader_version"),
                          hidden_tests_sha256=_text(item, "hidden_tests_sha256"), checkpoint=checkpoint)


@dataclass
class ManifestBuilder:
    """Collects files (name -> bytes) and produces the manifest over them."""

    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def entries(self) -> dict[str, FileEntry]:
        return {name: FileEntry(sha256_bytes(data), len(data)) for name, data in self.files.items()}
