"""Typed schema of ``milestone.yaml`` (and ``groups.yaml``, ``questions.yaml``).

Every field carries a one-line description. A file with a newer
``format_version`` than this code understands is refused with an "upgrade"
message instead of being half-read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from milestones.errors import MilestonesError

FORMAT_VERSION = 1


class MilestoneFormatError(MilestonesError):
    """A milestone data file is missing, malformed or from a newer harness."""

    def __init__(self, path: Path, problems: list[str], *, newer: bool = False):
        self.path = path
        self.problems = problems
        self.newer = newer
        super().__init__(f"{path}: " + "; ".join(problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HourBand(_Strict):
    low: float = Field(gt=0, description="Hours a comfortable candidate needs at least.")
    high: float = Field(gt=0, description="Hours beyond which the milestone took longer than the challenge expects.")

    @model_validator(mode="after")
    def _ordered(self) -> "HourBand":
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) is below low ({self.low})")
        return self

    def __str__(self) -> str:
        """'5 h' or '1.5-3 h'."""
        return f"{self.low:g} h" if self.low == self.high else f"{self.low:g}-{self.high:g} h"


class Builtins(_Strict):
    replaces: list[str] = Field(
        default_factory=list,
        description="Dotted names of the PyTorch built-ins this milestone asks you to write yourself; "
        "forbidden here and in later milestones until this one passes.",
    )
    forbidden: list[str] = Field(
        default_factory=list, description="Dotted names that are never allowed in this milestone."
    )
    why: str | None = Field(None, description="Why `forbidden` holds what it holds, in one sentence; shown when "
                            "learner code calls one of them, instead of 'write it yourself'.")
    families: list[str] = Field(
        default_factory=list,
        description="Families of built-ins (grader/judge/families.py: attention, multihead_attention, "
        "transformer_layers, normalisation) this milestone asks you to write yourself; every name in a family is "
        "treated like `replaces`.",
    )
    forbidden_families: list[str] = Field(
        default_factory=list, description="Families of built-ins never allowed in this milestone (like `forbidden`)."
    )
    allowed_imports: list[str] = Field(
        default_factory=list,
        description="Modules a learner file may import beyond torch, torch.nn, torch.nn.functional, torch.nn.init, "
        "torch.optim, math, typing, dataclasses, collections, itertools and __future__ while a built-in is forbidden "
        "(e.g. copy, heapq).",
    )

    @field_validator("families", "forbidden_families")
    @classmethod
    def _known_families(cls, value: list[str]) -> list[str]:
        from grader.judge.families import FAMILIES

        unknown = [name for name in value if name not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown families {unknown} (known: {', '.join(sorted(FAMILIES))})")
        return value

    @property
    def replaced_names(self) -> list[str]:
        """`replaces` and the names of `families`."""
        from grader.judge.families import family_names

        return [*self.replaces, *family_names(self.families)]

    @property
    def forbidden_names(self) -> list[str]:
        """`forbidden` and the names of `forbidden_families`."""
        from grader.judge.families import family_names

        return [*self.forbidden, *family_names(self.forbidden_families)]


class Grading(_Strict):
    call_timeout_s: float = Field(30, gt=0, description="Wall-clock limit for one call into learner code.")
    run_timeout_s: float = Field(300, gt=0, description="Wall-clock limit for the whole test run.")
    memory_mb: int = Field(6144, ge=256, description="Address-space limit of the sandboxed worker.")
    task: str | None = Field(None, description="A harness task whose data and spec the hidden tests use without "
                                               "training (e.g. a model built at random init from its spec).")


class Training(_Strict):
    task: str = Field(description="Name of the harness's task (data pipeline) the learner trains on.")
    default_budget_s: float = Field(gt=0, description="Training budget in CPU seconds of the worker (at its fixed "
                                                      "thread count) when --budget-s is not given.")
    max_budget_s: float = Field(gt=0, description="Largest --budget-s accepted (CPU seconds).")
    check_budget_s: float = Field(gt=0, description="Budget (CPU seconds) that `challenge dev check`, CI and the demo "
                                                    "train the reference and alternatives for.")
    plot: list[str] = Field(default_factory=list, description="Training-log metrics drawn as curves over steps "
                                                              "(curves.png beside the checkpoint).")


MISTAKE_ID = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
FAMILY = r"^[A-Za-z_][A-Za-z0-9_]*$"


class Hint(_Strict):
    """One hint, and what it is aimed at: `challenge hint` offers first the hint whose tags match the
    latest failed attempt's diagnosis. In the yaml, a hint without tags may stay a plain string."""

    text: str = Field(min_length=1, description="What the learner reads.")
    mistakes: list[Annotated[str, Field(pattern=MISTAKE_ID)]] = Field(
        default_factory=list, description="Ids of the judge's diagnoses this hint addresses (e.g. no-scale).")
    families: list[Annotated[str, Field(pattern=FAMILY)]] = Field(
        default_factory=list, description="Hidden test functions (a results document's `family`) whose failure it "
                                          "addresses, for failures without a diagnosis.")

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: object) -> object:
        return {"text": value} if isinstance(value, str) else value

    def __str__(self) -> str:
        return self.text


class Milestone(_Strict):
    format_version: int = Field(description="Schema version of this file.")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="Short name used on the command line.")
    title: str
    summary: str = Field(description="One paragraph: what the learner builds.")
    objectives: list[str] = Field(min_length=1, description="What the learner can do once it passes.")
    target_hours: HourBand = Field(description="The challenge's time target for this milestone.")
    target_group: str = Field(description="The group whose combined target this milestone counts toward.")
    prerequisites: list[str] = Field(default_factory=list, description="Ids of milestones to pass first.")
    learner_file: str = Field(pattern=r"^[a-z][a-z0-9_]*\.py$", description="File name of the learner's code.")
    hints: list[Hint] = Field(default_factory=list, description="Hints, unlocked one at a time: a plain string, or "
                              "{text, mistakes, families} to aim it at a diagnosis or a failing test.")
    self_questions: list[str] = Field(
        default_factory=list, description="Milestone-specific reflection question ids (from questions.yaml)."
    )
    builtins: Builtins = Field(default_factory=Builtins)
    grading: Grading = Field(default_factory=Grading)
    training: Training | None = Field(None, description="Present for milestones the learner trains.")
    bonus: bool = Field(False, description="Bonus milestones are extra evidence, never required.")
    draft: bool = Field(False, description="Still being written (`challenge dev new` sets it): `dev check` warns "
                                           "where the catalogue is below its minimums instead of failing. Remove it "
                                           "once the catalogue is complete.")

    # Filled in by the loader, not by the yaml.
    folder: str = Field("", description="Folder name, e.g. 01_attention.")

    @field_validator("format_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > FORMAT_VERSION:
            raise ValueError(f"format_version {value} is newer than this harness understands ({FORMAT_VERSION})")
        return value

    @property
    def number(self) -> int:
        return int(self.folder.split("_", 1)[0]) if self.folder else 0

    @property
    def kind(self) -> Literal["module", "training"]:
        return "training" if self.training else "module"


class Group(_Strict):
    title: str
    target_hours: HourBand


class Groups(_Strict):
    format_version: int
    groups: dict[str, Group]


class Question(_Strict):
    text: str = Field(description="The question, answered on a 1-5 scale.")
    low: str = Field(description="What a 1 means.")
    high: str = Field(description="What a 5 means.")
    area: str = Field(description="The skill area it speaks to, named in the verdict.")
    higher_is_comfortable: bool = Field(True, description="False where a high rating means it felt hard.")
    feel: bool = Field(True, description="Whether it counts toward the 'felt comfortable' verdict.")


class Questions(_Strict):
    format_version: int
    shared: list[str] = Field(description="Question ids asked for every milestone.")
    questions: dict[str, Question]


def describe_validation_error(error: ValidationError) -> list[str]:
    """Turn pydantic's error list into 'field.path: message' lines."""
    lines = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field (typo?)"
        lines.append(f"{where}: {message}")
    return lines
