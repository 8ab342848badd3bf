"""Written answers: questions a milestone asks in ``written_questions.yaml``,
answered by the learner in their own file as two literal mappings::

    ANSWERS = {"recurrence": "...", ...}       # question id -> plain string
    CONFIDENCE = {"recurrence": 4, ...}        # question id -> 1-5

Never graded; the report and the bundle show them. The learner's file is
untrusted and is never imported or run here: it is parsed with ``ast`` and only
literal values are accepted (``ast.literal_eval`` of the assigned expression),
from a file of at most ``challenge.similarity.MAX_SOURCE_BYTES``. Answers are
cut to ``MAX_ANSWER_CHARS`` and cleaned of control characters; every renderer
escapes them again for its own format.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from challenge.output import plain
from challenge.report.model import WrittenAnswer, WrittenAnswers
from challenge.similarity import read_source
from milestones.registry import read_yaml_model

QUESTIONS_FILE = "written_questions.yaml"
ANSWERS_NAME, CONFIDENCE_NAME = "ANSWERS", "CONFIDENCE"
MAX_ANSWER_CHARS = 4000
PLACEHOLDER = "TODO("  # the stub's answers start so: not answered yet


class _Question(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="The key in ANSWERS and CONFIDENCE.")
    text: str = Field(description="The question as the report shows it.")


class WrittenQuestions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format_version: int
    source: str = Field("", description="Where the questions come from, shown with them.")
    questions: list[_Question] = Field(min_length=1)


@lru_cache(maxsize=32)
def questions_in(milestone_folder: Path) -> WrittenQuestions | None:
    """The milestone's written questions, None when it asks none (a malformed file raises MilestoneFormatError)."""
    path = Path(milestone_folder) / QUESTIONS_FILE
    return read_yaml_model(path, WrittenQuestions) if path.is_file() else None


def read_answers(source: str | None, questions: WrittenQuestions) -> WrittenAnswers:
    """The answers in ``source`` (the learner's file as text; None when it cannot be read)."""
    problems: list[str] = []
    answers, confidence = {}, {}
    if source is None:
        problems.append("the file could not be read (missing, not UTF-8, or too large)")
    else:
        values, problems = _literal_assignments(source, (ANSWERS_NAME, CONFIDENCE_NAME))
        answers = _mapping(values.get(ANSWERS_NAME), ANSWERS_NAME, problems)
        confidence = _mapping(values.get(CONFIDENCE_NAME), CONFIDENCE_NAME, problems)
    found = []
    for question in questions.questions:
        answer = answers.get(question.id)
        if answer is not None and not isinstance(answer, str):
            problems.append(f"{ANSWERS_NAME}[{question.id!r}] is not a string")
            answer = None
        text = plain(answer, multiline=True, limit=MAX_ANSWER_CHARS).strip() if answer is not None else ""
        level = confidence.get(question.id)
        if level is not None and not (isinstance(level, int) and not isinstance(level, bool) and 1 <= level <= 5):
            problems.append(f"{CONFIDENCE_NAME}[{question.id!r}] is not a whole number from 1 to 5")
            level = None
        found.append(WrittenAnswer(question=question.id, text=question.text,
                                   answer=text if text and not text.startswith(PLACEHOLDER) else None,
                                   confidence=level))
    return WrittenAnswers(source=questions.source, answers=found, problems=problems)


def _literal_assignments(source: str, names: Sequence[str]) -> tuple[dict[str, object], list[str]]:
    """{name: value} for module-level ``name = <literal>`` (the last one wins, as when the file runs)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:  # ValueError: null bytes
        line = getattr(error, "lineno", None)
        return {}, [f"the file does not parse{f' (line {line})' if line else ''}, so the answers cannot be read"]
    nodes: dict[str, ast.expr] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in names:
                nodes[target.id] = value
    values, problems = {}, []
    for name, node in nodes.items():
        try:
            values[name] = ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError):
            problems.append(f"{name} is not a literal (plain strings and numbers only: no f-strings, names or "
                            f"calls), line {node.lineno}")
    return values, problems


def _mapping(value: object, name: str, problems: list[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{name} is not a dict")
        return {}
    return {key: item for key, item in value.items() if isinstance(key, str)}


def written_answers(*, workspace_root: Path, registry, milestone_ids: Iterable[str]) -> dict[str, WrittenAnswers]:
    """WrittenAnswers per started milestone that asks written questions (a workspace or an extracted bundle)."""
    known = {m.id: m for m in registry.milestones}
    found = {}
    for milestone_id in milestone_ids:
        milestone = known.get(milestone_id)
        questions = questions_in(registry.folder(milestone)) if milestone is not None else None
        if questions is None:
            continue
        source = read_source(Path(workspace_root) / milestone.folder / milestone.learner_file)
        found[milestone_id] = read_answers(source, questions)
    return found
