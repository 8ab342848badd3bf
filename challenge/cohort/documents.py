"""One results document per bundle, and the grader fingerprint that says
whether it is still current.

A document is ``<bundle sha256>.json`` in the output folder, written atomically
(temp file, fsync, rename: a killed run leaves whole documents or none). It
holds the ``challenge verify --json`` document, the learner's claims as
`challenge cohort compare` reads them, their code per milestone (read as text,
for similarity across learners), and the **grader fingerprint** it was
verified with: ``grader.GRADER_VERSION``, the sha256 of every milestone's
hidden tests and judge (``grader.fingerprint``), and the verify options
(``--retrain``, ``--seed``, ``--allow-unisolated``).

A bundle is skipped when its document has the same bundle sha256, the same
fingerprint and a final outcome (verified, not verified, invalid). Refused
(no isolation) and failed (the job crashed or timed out) are written too, so
that the report shows them, but they are tried again on the next run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from challenge.cohort.bundles import Learner, LearnerMilestone
from challenge.bundle.verify import VerifyOptions
from challenge.record.events import SHA256
from challenge.safe_json import UntrustedJSON, read_json_file, validate
from challenge.record.storage import write_json_atomic
from milestones import Registry

SCHEMA = "challenge-cohort-result"
SCHEMA_VERSION = 1
MAX_DOCUMENT_BYTES = 8 * 1024 * 1024  # the learner's code is capped by similarity.MAX_SOURCE_BYTES per file

# A bundle's outcome from its verify exit code; 4 is this command's own: the job crashed or timed out.
OUTCOMES = {0: "verified", 1: "not verified", 2: "invalid", 3: "refused", 4: "failed"}
FINAL = {0, 1, 2}  # outcomes a rerun with the same grader would repeat: never re-done
FAILED = 4

Sha256 = Annotated[str, Field(pattern=SHA256)]
Text = Annotated[str, Field(max_length=20_000)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Options(_Model):
    retrain: bool = False
    seed: int | None = None
    allow_unisolated: bool = False

    @classmethod
    def of(cls, options: VerifyOptions) -> "Options":
        return cls(retrain=options.retrain, seed=options.seed, allow_unisolated=options.allow_unisolated)


class Fingerprint(_Model):
    """What a verification's outcome depends on besides the bundle."""

    grader_version: Annotated[str, Field(max_length=64)]
    hidden_tests: dict[Annotated[str, Field(max_length=64)], Sha256]  # milestone id -> sha256
    options: Options = Options()


class ClaimedMilestone(_Model):
    """``challenge.cohort.bundles.LearnerMilestone``, as read back from a document."""

    status: Annotated[str, Field(max_length=40)]
    active_s: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    attempts: Annotated[int, Field(ge=0)]
    first_pass: bool | None
    help: Annotated[int, Field(ge=0)]
    predicted_pass: float | None
    predicted_hours: float | None
    actual_hours: Annotated[float, Field(allow_inf_nan=False)]


class Claims(_Model):
    """The learner's own record (``challenge.cohort.bundles.Learner``) without the cohort's label."""

    handle: Annotated[str, Field(max_length=200)]
    brier: float | None
    milestones: dict[Annotated[str, Field(max_length=64)], ClaimedMilestone]

    @classmethod
    def of(cls, learner: Learner) -> "Claims":
        return cls(handle=learner.label, brier=learner.brier,
                   milestones={k: ClaimedMilestone(**vars(v)) for k, v in learner.milestones.items()})

    def learner(self, *, source: str) -> Learner:
        return Learner(label=self.handle, source=source, brier=self.brier,
                       milestones={k: LearnerMilestone(**v.model_dump()) for k, v in self.milestones.items()})


class ResultDocument(_Model):
    schema_: Annotated[Literal["challenge-cohort-result"], Field(alias="schema")] = SCHEMA
    version: Literal[1] = SCHEMA_VERSION
    bundle_sha256: Sha256
    source: Annotated[str, Field(max_length=4096)]  # the path the run was given
    fingerprint: Fingerprint
    exit_code: Annotated[int, Field(ge=0, le=4)]  # challenge verify's exit code (4: the job failed)
    outcome: Literal["verified", "not verified", "invalid", "refused", "failed"]
    reason: Text  # one line: what did not verify, the failed check, why it was refused or failed
    verified_at: float
    duration_s: float
    verification: dict[str, JsonValue] | None = None  # `challenge verify --json`; None when the job failed
    claims: Claims | None = None  # None for an invalid bundle (nothing of it is read)
    code: dict[Annotated[str, Field(max_length=64)], str] = {}  # milestone id -> the learner's file
    timed_out: bool = False  # failed by overrunning --timeout: a result of its own, not redone unless asked

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @property
    def final(self) -> bool:
        return self.exit_code in FINAL

    def current_for(self, sha256: str, fingerprint: Fingerprint, *, retry_timeouts: bool = False) -> bool:
        """Done: same bundle, same grader fingerprint, an outcome a rerun would repeat. A timeout counts as
        done unless ``retry_timeouts``: a hostile bundle that stops its grader would cost the whole timeout again
        on every rerun."""
        repeated = self.final or (self.timed_out and not retry_timeouts)
        return repeated and self.bundle_sha256 == sha256 and self.fingerprint == fingerprint

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")


def grader_fingerprint(registry: Registry, options: VerifyOptions = VerifyOptions()) -> Fingerprint:
    """This machine's grader: its version and the hash of every milestone's hidden tests and judge."""
    import grader
    from grader.fingerprint import HIDDEN_DIR, hidden_tests_sha256

    hashes = {m.id: hidden_tests_sha256(HIDDEN_DIR / m.folder) for m in registry.milestones
              if (HIDDEN_DIR / m.folder).is_dir()}
    return Fingerprint(grader_version=grader.GRADER_VERSION, hidden_tests=hashes, options=Options.of(options))


def document_path(folder: Path, sha256: str) -> Path:
    return Path(folder) / f"{sha256}.json"


def write_document(folder: Path, document: ResultDocument) -> Path:
    path = document_path(folder, document.bundle_sha256)
    write_json_atomic(path, document.to_dict())
    return path


def read_document(path: Path) -> ResultDocument:
    """A document read with size and nesting limits and the strict model; ``UntrustedJSON`` says why not."""
    try:
        raw = read_json_file(path, max_bytes=MAX_DOCUMENT_BYTES)
    except OSError as error:
        raise UntrustedJSON(f"cannot read it ({error.strerror or error})") from None
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        raise UntrustedJSON(f"not a cohort results document (schema is not '{SCHEMA}')")
    return validate(ResultDocument, raw)


def current_document(folder: Path, sha256: str, fingerprint: Fingerprint, *,
                     retry_timeouts: bool = False) -> ResultDocument | None:
    """The bundle's document in ``folder`` when it is current (see ``ResultDocument.current_for``), else None."""
    path = document_path(folder, sha256)
    if not path.is_file():
        return None
    try:
        document = read_document(path)
    except UntrustedJSON:  # damaged by hand: verify again, the new document replaces it
        return None
    return document if document.current_for(sha256, fingerprint, retry_timeouts=retry_timeouts) else None


def result_files(folder: Path) -> list[Path]:
    """The documents in ``folder``: ``*.json`` named by a sha256 (temp files and the lock are not)."""
    return sorted(p for p in Path(folder).glob("*.json") if len(p.stem) == 64 and not p.name.startswith("."))
