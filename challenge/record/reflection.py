"""Plain functions behind `challenge reflect`: the challenge's self-questions
for a milestone, answers read from YAML or a prompt, and the ``reflect`` event.

Answers typed at the prompt are kept in a draft beside the learner's file
as they are given, so a run that is interrupted goes on where it stopped
(the draft is not part of a bundle, and goes once the answers are recorded).

Answers are 1-5 ratings with optional free text. Every question of the
milestone (the shared ones and its own, from ``milestones/questions.yaml``)
needs a rating. Re-running replaces the answers; the earlier ones stay in the
event log. The event's data::

    {"answers": {"<question id>": {"rating": 1-5, "text": "..." or null}}}
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from challenge.record.bookkeeping import require_started
from challenge.errors import UsageError
from challenge.safe_json import read_json_file
from challenge.record.storage import write_json_atomic
from challenge.record.workspace import Workspace
from milestones import Milestone, Registry
from milestones.schema import Question

MAX_TEXT = 2000
DRAFT_NAME = ".reflection-draft.json"


@dataclass(frozen=True)
class Answer:
    rating: int
    text: str | None = None

    def to_json(self) -> dict:
        return {"rating": self.rating, "text": self.text}


@dataclass(frozen=True)
class ReflectResult:
    answers: dict[str, Answer]
    replaced: bool  # earlier answers existed (they stay in the log)


def reflection_questions(registry: Registry, milestone: Milestone) -> list[tuple[str, Question]]:
    """(id, question) in asking order: the shared questions, then the milestone's own."""
    return [(qid, registry.questions.questions[qid]) for qid in registry.questions_for(milestone)]


def answers_template(registry: Registry, milestone: Milestone) -> str:
    """A YAML file to fill in for ``--answers``: every question as a comment."""
    lines = [f"# challenge reflect {milestone.id} --answers THIS_FILE",
             "# Rate each question 1-5; add text if you like:  id: 4   or   id: {rating: 4, text: \"...\"}"]
    for qid, question in reflection_questions(registry, milestone):
        lines += ["", *_commented(question.text), *_commented(f"1 = {question.low}, 5 = {question.high}"), f"{qid}: "]
    return "\n".join(lines) + "\n"


def _commented(text: str) -> list[str]:
    """``text`` as YAML comment lines, however many lines it has (a bare line would be read as an answer)."""
    return [f"# {line}".rstrip() for line in text.splitlines() or [""]]


def parse_answers(raw: object, questions: list[tuple[str, Question]], *, source: str = "answers") -> dict[str, Answer]:
    """Validate answers given as ``{id: rating}`` or ``{id: {rating, text}}``; raises UsageError."""
    if isinstance(raw, dict) and set(raw) == {"answers"} and isinstance(raw["answers"], dict):
        raw = raw["answers"]
    if not isinstance(raw, dict):
        raise UsageError(f"{source}: expected a mapping of question id to rating.",
                         "Example line: obvious: 4   (get a template with --template)")
    ids = [qid for qid, _ in questions]
    problems = []
    unknown = [str(key) for key in raw if key not in ids]
    if unknown:
        problems.append(f"unknown question id(s): {', '.join(unknown)}")
    missing = [qid for qid in ids if raw.get(qid) is None]
    if missing:
        problems.append(f"no rating for: {', '.join(missing)}")
    answers: dict[str, Answer] = {}
    for qid in ids:
        value = raw.get(qid)
        if value is None:
            continue
        rating, text = (value.get("rating"), value.get("text")) if isinstance(value, dict) else (value, None)
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            problems.append(f"{qid}: the rating must be a whole number from 1 to 5 (got {rating!r})")
            continue
        if text is not None and not isinstance(text, str):
            text = str(text)
        text = (text or "").strip()[:MAX_TEXT] or None
        answers[qid] = Answer(rating, text)
    if problems:
        raise UsageError(f"{source}: " + "; ".join(problems) + ".",
                         f"Questions: {', '.join(ids)}. Get a template with --template.")
    return answers


def read_answers_file(path: Path, questions: list[tuple[str, Question]]) -> dict[str, Answer]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist.", "Write one from the template: --template > answers.yaml") from None
    except (OSError, yaml.YAMLError) as error:
        raise UsageError(f"{path} is not readable YAML ({error}).", "Check the file against --template.") from None
    return parse_answers(raw, questions, source=str(path))


def record_reflection(*, workspace: Workspace, milestone: Milestone, answers: dict[str, Answer]) -> ReflectResult:
    """Log the answers as a ``reflect`` event; the milestone must have been started."""
    item = require_started(workspace=workspace, milestone=milestone)
    workspace.log.append("reflect", milestone=milestone.id,
                         data={"answers": {qid: answer.to_json() for qid, answer in answers.items()}})
    _draft_path(workspace, milestone).unlink(missing_ok=True)
    return ReflectResult(answers, replaced=item.reflection is not None)


def _draft_path(workspace: Workspace, milestone: Milestone) -> Path:
    return workspace.milestone_dir(milestone.folder) / DRAFT_NAME


def read_draft(workspace: Workspace, milestone: Milestone, questions: list[tuple[str, Question]]) -> dict[str, Answer]:
    """The answers kept from an interrupted prompt, for the questions still asked; {} when none can be read."""
    try:
        raw = read_json_file(_draft_path(workspace, milestone), max_bytes=256 * 1024)
    except (OSError, ValueError):
        return {}
    known = {qid for qid, _ in questions}
    kept = {}
    for qid, answer in (raw.items() if isinstance(raw, dict) else ()):
        rating = answer.get("rating") if isinstance(answer, dict) else None
        text = answer.get("text") if isinstance(answer, dict) else None
        if qid in known and isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5:
            kept[qid] = Answer(rating, text[:MAX_TEXT] if isinstance(text, str) and text else None)
    return kept


def save_draft(workspace: Workspace, milestone: Milestone, answers: dict[str, Answer]) -> None:
    write_json_atomic(_draft_path(workspace, milestone), {qid: a.to_json() for qid, a in answers.items()})
