"""The report as typed, pure data: what every renderer (terminal, Markdown,
HTML, JSON) draws from. Built by ``challenge.report.build``; no rendering here.

Times are seconds, hours are hours, timestamps are Unix seconds (UTC), chances
are 0-1. Anything the log does not say is ``None`` rather than guessed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from challenge.similarity import Similarity  # noqa: F401  (the report's field type, defined with its score)

SCHEMA = "challenge-report"
SCHEMA_VERSION = 2  # 2: mistakes made (by diagnosis) instead of failed tests; the "in progress" verdict; audience

LEARNER = "learner"  # the report as the learner reads it ("you")
READER = "reader"  # as an employer reads it (`show`): the learner in the third person


@dataclass(frozen=True)
class Band:
    low: float  # hours
    high: float


@dataclass(frozen=True)
class Adjustment:
    ts: float
    seconds: float  # may be negative
    note: str


@dataclass(frozen=True)
class TimeSummary:
    active_s: float  # measured: clock running and not idle
    idle_s: float  # clock running, but no activity for longer than the idle threshold
    paused_s: float
    adjusted_s: float  # self-reported with `challenge log-time`
    total_s: float  # active + adjusted: the figure judged against the target
    clock_s: float  # active + idle
    adjustments: list[Adjustment] = field(default_factory=list)

    @property
    def total_h(self) -> float:
        return self.total_s / 3600


NAMED, LOCALISED, FAILED = "named", "localised", "failed"
FINDING_ORDER = (NAMED, LOCALISED, FAILED)  # how the report ranks what failures show, before how often


@dataclass(frozen=True)
class Finding:
    """What an attempt's failures show: a named mistake, a fault only localised, or a failing test family."""

    key: str  # the diagnosis' mistake id (or its summary when it only localises), or the test family
    label: str  # the diagnosis in one line, or the family's readable name
    kind: str = FAILED  # NAMED: a known mistake; LOCALISED: where the fault lies, no name; FAILED: no diagnosis

    @property
    def diagnosed(self) -> bool:
        """Diagnosed means named: a diagnosis that only localises (no known mistake matches) is not one."""
        return self.kind == NAMED


@dataclass(frozen=True)
class AttemptSummary:
    number: int  # 1-based
    ts: float
    status: str  # pass | fail | error
    passed: int
    total: int
    confidence: float | None  # stated before the run
    builtins_used: list[str]
    forbidden_used: list[str]
    failed_tests: list[str]  # from the results document
    results_note: str | None  # why failed_tests may be incomplete (results file missing, ...)
    mistakes: list["Finding"] = field(default_factory=list)  # what the failures show: diagnoses, else families
    isolated: bool | None = None  # graded in the full sandbox (bubblewrap); None: not recorded


@dataclass(frozen=True)
class MistakeMade:
    """A mistake the judge named (or a fault it localised, or a test family that failed) and how often."""

    milestone: str
    key: str  # the diagnosis' mistake id, or the test family
    label: str  # the diagnosis in one line, or the family's readable name
    diagnosed: bool  # named: a known mistake of the catalogue
    attempts: int  # in how many attempts it showed
    kind: str = FAILED  # NAMED, LOCALISED or FAILED (``Finding.kind``)


@dataclass(frozen=True)
class Rating:
    question: str
    text: str
    area: str
    feel: bool  # counts toward the feel score
    rating: int | None  # None: not answered
    comfort: float | None  # the rating turned so that 5 is comfortable
    note: str | None


@dataclass(frozen=True)
class Reflection:
    status: str  # answered | partial | missing
    ratings: list[Rating]
    feel_score: float | None  # mean comfort over answered feel questions
    answered_at: float | None
    replaced: int  # how many earlier answer sets were replaced (kept in the log)


@dataclass(frozen=True)
class Verdict:
    level: str  # see challenge.report.verdict
    label: str
    reasons: list[str]
    so_far: str | None = None  # while in progress: the level the milestones judged so far would give


@dataclass(frozen=True)
class WrittenAnswer:
    """One written question (``written_questions.yaml``) and the learner's answer, read without running their file."""

    question: str  # id
    text: str  # the question
    answer: str | None  # control characters removed, cut to challenge.report.written.MAX_ANSWER_CHARS; None: none
    confidence: int | None  # 1-5 as stated; None: not stated


@dataclass(frozen=True)
class WrittenAnswers:
    source: str  # where the questions come from
    answers: list[WrittenAnswer]
    problems: list[str]  # why some could not be read (a syntax error, a value that is not a literal, ...)


@dataclass(frozen=True)
class CurveBand:
    start: int  # the first point it judges
    stop: int  # one past the last
    low: float
    high: float
    label: str


@dataclass(frozen=True)
class Curve:
    """A judged curve from the latest results document (e.g. accuracy per position), shown and plotted."""

    metric: str  # the results metric it came from
    title: str
    x_label: str
    y_label: str
    labels: list[str]
    values: list[float]
    bands: list[CurveBand]


@dataclass(frozen=True)
class MilestoneReport:
    id: str
    title: str
    group: str
    bonus: bool
    status: str  # passed | in progress
    target: Band
    time: TimeSummary
    timing: str  # timing class of time.total against target (so far, while in progress)
    attempts: list[AttemptSummary]
    first_pass: bool | None  # None: no attempt yet
    hints_used: int
    hints_total: int
    peeks: int
    peeks_before_pass: int
    builtins_used: list[str]
    forbidden_used: list[str]
    predicted_hours: float | None
    predicted_pass: float | None
    reflection: Reflection
    mistakes: list[MistakeMade]
    verdict: Verdict
    similarity: Similarity | None = None  # of the learner's file to the reference (None: not measured)
    written: WrittenAnswers | None = None  # None: the milestone asks no written questions
    curves: list[Curve] = field(default_factory=list)  # from the latest test's results


@dataclass(frozen=True)
class GroupReport:
    id: str
    title: str
    target: Band
    milestones: list[str]  # the group's milestones that were started
    passed: int
    size: int  # milestones in the group
    total_s: float
    timing: str
    complete: bool


@dataclass(frozen=True)
class PassPrediction:
    milestone: str
    kind: str  # "at start" (first test passes) | "before test N"
    ts: float
    predicted: float
    passed: bool


@dataclass(frozen=True)
class HoursPrediction:
    milestone: str
    predicted: float
    actual: float  # hours, active + self-reported
    final: bool  # False while the milestone is in progress


@dataclass(frozen=True)
class Calibration:
    pass_predictions: list[PassPrediction]
    brier: float | None
    mean_predicted: float | None
    pass_rate: float | None
    confidence_words: str
    hours: list[HoursPrediction]
    hours_words: str


@dataclass(frozen=True)
class WeakArea:
    area: str
    mean_comfort: float
    milestones: list[str]


@dataclass(frozen=True)
class LogHealth:
    events: int
    torn_lines: list[int]  # line numbers skipped as unreadable (a crash mid-write)
    chain_problems: list[str]  # edited, deleted or reordered lines
    unknown_milestones: list[str]  # ids in the log that this harness does not know
    unusable_events: list[int] = field(default_factory=list)  # seq of events whose data could not be read
    malformed: list[str] = field(default_factory=list)  # lines that are not usable events (too deep, mistyped)
    losses: list[str] = field(default_factory=list)  # events cut off the end, or the log deleted

    @property
    def intact(self) -> bool:
        return not self.chain_problems


@dataclass(frozen=True)
class Report:
    handle: str
    generated_at: float
    idle_threshold_s: float
    log: LogHealth
    milestones: list[MilestoneReport]
    not_started: list[str]
    groups: list[GroupReport]
    calibration: Calibration
    weakest_areas: list[WeakArea]
    mistakes_made: list[MistakeMade]  # across milestones: named first, then localised, then failing families;
    # within each the most frequent first; cut to the verdict's count, ``mistakes_left_out`` says how many went
    verdict: Verdict
    rules: list[str]  # the verdict rules in words
    rule_numbers: dict[str, float]
    audience: str = LEARNER  # LEARNER or READER: who the words address
    mistakes_left_out: int = 0  # mistakes made that the list above does not show
    schema: str = SCHEMA
    version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (`challenge report --format json`): ``schema`` and ``version`` first, floats rounded
        so that the document is stable and readable."""
        raw = asdict(self)
        document = {"schema": raw.pop("schema"), "version": raw.pop("version"), **raw}
        document["log"]["intact"] = self.log.intact
        return _rounded(document)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value
