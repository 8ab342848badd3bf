"""A results document as read back from a workspace or a bundle: untrusted JSON
checked against a strict model before anything uses it (the report, ``submit``,
``verify``, ``grader.results.RunResult.from_dict``).

The fields ``grader.results`` writes today are strictly typed. Keys it does not
know yet (a newer grader's per-test ``diagnosis`` and ``family``, a top-level
``rule`` section, ...) are accepted as long as they are plain JSON, and are
passed on unchanged; the reader never depends on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from challenge.safe_json import read_json_file, validate

SCHEMA = "challenge-results"  # as grader.results.SCHEMA (not imported: the grader package is heavier to load)
MAX_RESULTS_BYTES = 8 * 1024 * 1024

Name = Annotated[str, Field(max_length=1000)]


class _Document(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")

    # Extra keys stay as parsed from JSON; this makes sure that is all they are.
    __pydantic_extra__: dict[str, JsonValue]


class TestDocument(_Document):
    name: Name
    status: Annotated[str, Field(max_length=32)]
    message: str = ""
    hint: str = ""
    output: str = ""
    duration_s: Annotated[float, Field(ge=0)] = 0.0


class ResultsDocument(_Document):
    schema_: Annotated[str, Field(alias="schema", pattern=f"^{SCHEMA}$")]
    version: Annotated[int, Field(ge=1)]
    milestone: Annotated[str, Field(max_length=64)] = ""
    status: Annotated[str, Field(max_length=32)] = "error"
    message: str = ""
    tests: list[TestDocument] = []
    grader_version: Annotated[str, Field(max_length=64)] = ""
    hidden_tests_sha256: Annotated[str, Field(max_length=64)] = ""
    sandbox: dict[str, JsonValue] = {}
    device: Annotated[str, Field(max_length=64)] = "cpu"
    seed: int = 0
    started_at: float = 0.0
    duration_s: float = 0.0
    learner_file_sha256: Annotated[str, Field(max_length=64)] = ""
    builtins_used: list[Name] = []
    forbidden_used: list[Name] = []
    metrics: dict[str, JsonValue] = {}
    examples: list[dict[str, JsonValue]] = []


def check_results(raw: Any) -> dict[str, Any]:
    """``raw`` if it is a results document (raises ``UntrustedJSON`` naming the bad field otherwise)."""
    validate(ResultsDocument, raw)
    return raw


def read_results(path: Path) -> dict[str, Any]:
    """The results document at ``path`` as a checked dict; raises OSError or ``UntrustedJSON``."""
    return check_results(read_json_file(path, max_bytes=MAX_RESULTS_BYTES))
