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
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from challenge.errors import ChallengeError
from challenge.record.events import MILESTONE_ID, SHA256
from challenge.safe_json import UntrustedJSON, validate
from challenge.record.workspace import HANDLE_PATTERN

SCHEMA = "challenge-bundle"
SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
README_NAME = "README.md"
WORKSPACE_DIR = "workspace"
REPORT_DIR = "report"

Sha256 = Annotated[str, Field(pattern=SHA256)]
Sha256OrEmpty = Annotated[str, Field(pattern=SHA256 + "|^$")]
BundlePath = Annotated[str, Field(max_length=400)]
Version = Annotated[str, Field(max_length=64)]


class ManifestError(ChallengeError, ValueError):
    """The manifest is not a bundle manifest this harness understands."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Strict(BaseModel):
    # Read strictly by ``Manifest.from_dict``; built by ``submit``. Unknown keys are ignored, never trusted or shown.
    model_config = ConfigDict(extra="ignore", frozen=True)


class FileEntry(_Strict):
    sha256: Sha256
    size: Annotated[int, Field(ge=0)]


class MilestoneEntry(_Strict):
    """One started milestone and the grading its claims were made with."""

    id: Annotated[str, Field(pattern=MILESTONE_ID)]
    folder: Annotated[str, Field(max_length=100)]
    learner_file: BundlePath  # path inside the bundle; "" when the learner deleted it
    grader_version: Version  # of the latest results document ("" when never tested)
    hidden_tests_sha256: Annotated[str, Field(max_length=64)]
    checkpoint: BundlePath | None = None  # folder inside the bundle, training milestones only


class EventLogEntry(_Strict):
    """Where the log is, how many events it held at submit and the hash of the last one."""

    path: BundlePath
    events: Annotated[int, Field(ge=0)]
    head: Sha256
    # losses of events the learner accepted with ``submit --accept-log-loss`` (also ``log_loss`` events in the log)
    losses: list[Annotated[str, Field(max_length=2000)]] = []


class Manifest(_Strict):
    handle: Annotated[str, Field(pattern=HANDLE_PATTERN)]
    created_at: Annotated[float, Field(allow_inf_nan=False)]  # Unix seconds: when `submit` ran; the report's "now"
    harness_version: Version
    grader_version: Version  # the grader installed where `submit` ran
    environment: dict[str, JsonValue]  # python, torch, os, machine, devices
    event_log: EventLogEntry
    milestones: list[MilestoneEntry]
    files: dict[BundlePath, FileEntry]  # every file of the bundle except the manifest itself
    schema_: Annotated[str, Field(alias="schema")] = SCHEMA
    version: int = SCHEMA_VERSION

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @property
    def schema(self) -> str:  # noqa: D401 - the document's "schema" key (a reserved name in pydantic)
        return self.schema_

    def milestone(self, milestone_id: str) -> MilestoneEntry | None:
        return next((m for m in self.milestones if m.id == milestone_id), None)

    def to_dict(self) -> dict[str, Any]:
        document = self.model_dump(by_alias=True, mode="json")
        document["files"] = dict(sorted(document["files"].items()))
        if not document["event_log"]["losses"]:  # only a bundle submitted with --accept-log-loss has them
            del document["event_log"]["losses"]
        return {"schema": document.pop("schema"), "version": document.pop("version"), **document}

    @classmethod
    def from_dict(cls, raw: Any) -> "Manifest":
        """Validate strictly and load; raises ManifestError naming the field."""
        if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
            raise ManifestError(f"not a challenge bundle manifest (schema is not '{SCHEMA}')")
        version = raw.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ManifestError("version: missing or not a number")
        if version > SCHEMA_VERSION:
            raise ManifestError(f"version {version} is newer than this harness understands ({SCHEMA_VERSION}); "
                                "upgrade challenge")
        try:
            return validate(cls, raw, strict=True)
        except UntrustedJSON as error:
            raise ManifestError(error.reason) from None


@dataclass
class ManifestBuilder:
    """Collects files (name -> bytes) and produces the manifest over them."""

    files: dict[str, bytes] = field(default_factory=dict)

    def add(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def entries(self) -> dict[str, FileEntry]:
        return {name: FileEntry(sha256=sha256_bytes(data), size=len(data)) for name, data in self.files.items()}
