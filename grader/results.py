"""The results document of one test run: small, versioned, pure data.

Modelled on exercism's test-runner v3 (per test ``name``, ``status``,
``message``, ``output`` capped at 500 characters) with what a calibration
harness adds: duration, hint, grader version, hidden-test hash, sandbox mode,
device, seed, built-ins used, metrics and examples for training milestones.
Rendering lives elsewhere (``challenge.feedback.render_results``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "challenge-results"
SCHEMA_VERSION = 1
OUTPUT_CAP = 500


def cap_output(text: str, limit: int = OUTPUT_CAP) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[... {len(text) - limit} more characters cut]"


@dataclass
class Diagnosis:
    """The mistake the judge's evidence points at: one known mistake, or where the fault lies."""

    mistake: str  # a stable id, e.g. "no-scaling"; "" when only localised
    summary: str  # one line for the learner, e.g. "no 1/sqrt(d_k) scaling of the scores"
    evidence: str = ""  # what the probes showed, in words

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Diagnosis":
        return cls(**{k: str(raw.get(k, "")) for k in ("mistake", "summary", "evidence")})


@dataclass
class TestResult:
    name: str
    status: str  # pass | fail | error
    message: str = ""
    hint: str = ""
    output: str = ""
    duration_s: float = 0.0
    family: str = ""  # the test function the case belongs to (parametrised cases share it)
    diagnosis: Diagnosis | None = None

    def __post_init__(self) -> None:
        self.output = cap_output(self.output)
        if isinstance(self.diagnosis, dict):
            self.diagnosis = Diagnosis.from_dict(self.diagnosis)


@dataclass
class RunResult:
    milestone: str
    status: str  # pass | fail | error (error: the code could not even be loaded, or the harness broke)
    message: str = ""  # top-level message when status is error
    tests: list[TestResult] = field(default_factory=list)
    grader_version: str = ""
    hidden_tests_sha256: str = ""
    sandbox: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"
    seed: int = 0
    started_at: float = 0.0
    duration_s: float = 0.0
    learner_file_sha256: str = ""
    builtins_used: list[str] = field(default_factory=list)
    forbidden_used: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)
    schema: str = SCHEMA
    version: int = SCHEMA_VERSION

    @property
    def passed(self) -> int:
        return sum(1 for t in self.tests if t.status == "pass")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunResult":
        if raw.get("schema") != SCHEMA or not isinstance(raw.get("version"), int):
            raise ValueError("not a challenge results document")
        if raw["version"] > SCHEMA_VERSION:
            raise ValueError(f"results version {raw['version']} is newer than this grader understands")
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in raw.items() if k in known}
        data["tests"] = [TestResult(**{k: v for k, v in t.items() if k in TestResult.__dataclass_fields__})
                         for t in raw.get("tests", [])]
        return cls(**data)


@dataclass
class TrainOutcome:
    """What a training run gave back: the model as it was when it stopped, and how it got there."""

    status: str  # "trained" or "error"
    message: str = ""
    hint: str = ""
    state: dict[str, Any] = field(default_factory=dict)  # name -> tensor
    history: list[dict[str, Any]] = field(default_factory=list)  # the learner's task.log records (a claim)
    stopped_by: str = ""  # finished | budget | stopped (Ctrl-C) | interrupted (loop ignored should_stop)
    elapsed_s: float = 0.0  # wall time of the training loop
    cpu_s: float = 0.0  # CPU time the worker used in the loop: what the budget counts
    threads: int = 0  # the worker's fixed thread count
    tokens_seen: int = 0
    builtins_used: list[str] = field(default_factory=list)
    forbidden_used: list[str] = field(default_factory=list)
    sandbox: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    learner_file_sha256: str = ""  # of the bytes that trained (read once, before the run)


def overall_status(tests: list[TestResult]) -> str:
    if not tests:
        return "error"
    return "pass" if all(t.status == "pass" for t in tests) else "fail"
