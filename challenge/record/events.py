"""The typed shape of the event log: one model for a line (the envelope) and
one for the ``data`` of each event type the harness writes.

A line is read as untrusted JSON (``challenge.safe_json``), then checked
against ``EventLine``; its data against the model of its type. Fields are
optional (older logs and hand-made test logs leave some out) but, when present,
strictly typed: a ``milestone`` that is a list, a ``passed`` that is text or a
rating that is not a number make the event unusable, and the reader reports and skips it. Data
keys the models do not know are kept (a newer harness may add some) as long as
they are plain JSON.

Event types and who writes them: ``init`` (workspace), ``activity`` (edits
sampled by every command, ``viz``), ``start``, ``pause``, ``resume``,
``time_adjust``, ``hint``, ``peek`` (bookkeeping), ``prediction`` and ``test``
(grading), ``train`` (training, phase start and end), ``watch``, ``reflect``,
``submit`` (bundle) and ``log_loss`` (the log itself, when events went missing).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from challenge.safe_json import describe

SHA256 = r"^[0-9a-f]{64}$"
MILESTONE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
EVENT_TYPE = r"^[a-z][a-z_]{0,31}$"
MAX_TEXT = 10_000  # notes and reflections are capped at 2,000 characters when written

Sha256 = Annotated[str, Field(pattern=SHA256)]
MilestoneId = Annotated[str, Field(pattern=MILESTONE_ID)]
Count = Annotated[int, Field(ge=0)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Chance = Annotated[float, Field(ge=0, le=1)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Names = list[Annotated[str, Field(max_length=200)]]


class EventLine(BaseModel):
    """One line of events.jsonl: the hash-chained envelope."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    v: Annotated[int, Field(ge=1)]
    seq: Count
    ts: Finite
    type: Annotated[str, Field(pattern=EVENT_TYPE)]
    milestone: MilestoneId | None = None
    data: dict[str, JsonValue] = {}
    prev: Sha256
    hash: Sha256


class EventData(BaseModel):
    """What any event's data may carry: activity evidence read by the time accounting."""

    model_config = ConfigDict(strict=True, extra="allow")

    busy_s: Seconds | None = None  # seconds before the event that were busy (a test or training run)
    edits: list[Finite] | None = None  # modification times of learner files seen by the command


class InitData(EventData):
    handle: Text | None = None
    idle_threshold_s: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None


class ActivityData(EventData):
    command: Text | None = None
    source: Text | None = None
    tokens: Count | None = None
    simulated: bool | None = None


class StartData(EventData):
    learner_file: Text | None = None
    predict_hours: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    predict_pass: Chance | None = None
    after_pass_of: MilestoneId | None = None  # moved on to this milestone right after passing that one


class PauseData(EventData):
    after_pass: bool | None = None  # the learner stopped the clock right after a pass


class TimeAdjustData(EventData):
    seconds: Finite | None = None
    note: Text | None = None


class HintData(EventData):
    index: Count | None = None
    aimed_at: Text | None = None  # the diagnosis (mistake id) or test family it was chosen for


class PeekData(EventData):
    forced: bool | None = None


class PredictionData(EventData):
    kind: Text | None = None  # "confidence" (before a test: value) or "at_start" (recorded after start)
    value: Chance | None = None
    predict_hours: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    predict_pass: Chance | None = None


class TestData(EventData):
    status: Text | None = None
    passed: Count | None = None
    total: Count | None = None
    results_file: Text | None = None
    seed: int | None = None
    builtins_used: Names | None = None
    forbidden_used: Names | None = None
    grader_version: Text | None = None
    hidden_tests_sha256: Text | None = None
    learner_file_sha256: Text | None = None
    duration_s: Seconds | None = None
    sandbox_isolated: bool | None = None


class TrainData(EventData):
    phase: Text | None = None
    budget_s: Seconds | None = None
    device: Text | None = None
    status: Text | None = None
    stopped_by: Text | None = None
    elapsed_s: Seconds | None = None
    checkpoint: Text | None = None
    steps: Count | None = None
    final_loss: float | None = None  # NaN when the learner's training diverged
    builtins_used: Names | None = None
    forbidden_used: Names | None = None


class Answer(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    rating: int | None = None  # 1-5 when written; the report shows one out of range as unanswered
    text: Text | None = None


class ReflectData(EventData):
    answers: dict[Annotated[str, Field(max_length=64)], Answer | int] | None = None


class SubmitData(EventData):
    bundle: Text | None = None
    passed: Names | None = None
    in_progress: Names | None = None
    accepted_log_loss: bool | None = None


class LogLossData(EventData):
    detail: Text
    recorded_events: Count | None = None  # what the log's head said it held
    found_events: Count | None = None  # what was left


DATA_MODELS: dict[str, type[EventData]] = {
    "init": InitData, "activity": ActivityData, "start": StartData, "pause": PauseData, "resume": EventData,
    "time_adjust": TimeAdjustData, "hint": HintData, "peek": PeekData, "prediction": PredictionData,
    "test": TestData, "train": TrainData, "watch": EventData, "reflect": ReflectData, "submit": SubmitData,
    "log_loss": LogLossData,
}


def data_problem(type: str, data: Any) -> str | None:
    """Why ``data`` is not usable as the data of a ``type`` event, or None when it is.

    Unknown types get the common checks only (a newer harness may add types).
    """
    model = DATA_MODELS.get(type, EventData)
    try:
        model.model_validate(data)
    except ValidationError as error:
        return "data." + describe(error)
    return None


def line_problem(raw: Any) -> str | None:
    """Why a parsed line is not an event line, or None."""
    try:
        EventLine.model_validate(raw)
    except ValidationError as error:
        return describe(error)
    return None

