"""Written answers are read from the learner's file without running it: literals only, size-limited,
cleaned of control characters; hostile files give a problem line, never a traceback or a side effect."""

import time
from pathlib import Path

import pytest

from challenge.report.written import MAX_ANSWER_CHARS, QUESTIONS_FILE, questions_in, read_answers, written_answers
from challenge.similarity import MAX_SOURCE_BYTES
from milestones import load_registry

REGISTRY = load_registry()
HILTON = REGISTRY.get("hilton")
QUESTIONS = questions_in(REGISTRY.folder(HILTON))
IDS = [q.id for q in QUESTIONS.questions]


def answers_of(source: str) -> dict:
    written = read_answers(source, QUESTIONS)
    return {a.question: (a.answer, a.confidence) for a in written.answers}, written.problems


def test_the_hilton_milestone_asks_its_four_questions():
    assert IDS == ["recurrence", "qkv", "dense_layers", "skip_connections"]
    assert "Hilton" in QUESTIONS.source
    assert questions_in(REGISTRY.folder(REGISTRY.get("gpt"))) is None  # a milestone without the file asks none


def test_reference_answers_are_read_and_the_stub_counts_as_unanswered():
    folder = REGISTRY.folder(HILTON)
    found, problems = answers_of((folder / "reference.py").read_text())
    assert problems == [] and all(answer and 1 <= level <= 5 for answer, level in found.values())
    found, problems = answers_of((folder / "stub.py").read_text())
    assert problems == [] and all(value == (None, None) for value in found.values())  # "TODO(hilton)..." / None


def test_literals_of_every_spelling_and_the_last_assignment_wins():
    source = '''
ANSWERS = {"recurrence": "old"}
ANSWERS: dict = {"recurrence": "An RNN " "steps through time.",
                 "qkv": """Q, K, V:
(B, H, T, d_head).""", 42: "ignored key", "unknown": "not a question"}
CONFIDENCE = dict(recurrence=5)  # a call: refused, not run
def later():
    ANSWERS = {"recurrence": "inside a function: not the module's"}
'''
    found, problems = answers_of(source)
    assert found["recurrence"] == ("An RNN steps through time.", None)
    assert found["qkv"] == ("Q, K, V:\n(B, H, T, d_head).", None)
    assert found["dense_layers"] == (None, None)
    assert problems == ["CONFIDENCE is not a literal (plain strings and numbers only: no f-strings, names or calls), "
                        "line 6"]


@pytest.mark.parametrize("expression", [
    'f"{__import__(\'os\').getcwd()}"',  # an f-string
    'open(MARKER, "w").write("ran")',  # a call with a side effect
    '"x" * 10 ** 12',  # arithmetic that would take all memory
    'SOMETHING',  # a name
    '(lambda: "x")()',
])
def test_non_literals_are_refused_without_being_run(expression, tmp_path):
    marker = tmp_path / "marker"
    source = f'MARKER = {str(marker)!r}\nANSWERS = {{"recurrence": {expression}}}\nCONFIDENCE = {{"qkv": 3}}\n'
    started = time.perf_counter()
    found, problems = answers_of(source)
    assert time.perf_counter() - started < 5  # nothing was evaluated (generous: the machine is busy)
    assert not marker.exists()
    assert found["recurrence"] == (None, None) and found["qkv"] == (None, 3)
    assert problems == ["ANSWERS is not a literal (plain strings and numbers only: no f-strings, names or calls), "
                        "line 2"]


def test_huge_answers_are_cut_and_huge_files_are_not_read(tmp_path):
    found, _ = answers_of(f'ANSWERS = {{"qkv": "{"y" * 200_000}"}}')
    assert len(found["qkv"][0]) == MAX_ANSWER_CHARS and found["qkv"][0].endswith("…")
    big = tmp_path / "hilton.py"
    big.write_text(f'ANSWERS = {{"qkv": "{"z" * (MAX_SOURCE_BYTES + 10)}"}}')
    (tmp_path / HILTON.folder).mkdir()
    big.rename(tmp_path / HILTON.folder / HILTON.learner_file)
    written = written_answers(workspace_root=tmp_path, registry=REGISTRY, milestone_ids=["hilton"])["hilton"]
    assert all(a.answer is None for a in written.answers)
    assert written.problems == ["the file could not be read (missing, not UTF-8, or too large)"]


def test_escape_sequences_and_control_characters_are_removed():
    hostile = r'"a\x1b[2J\x1b]8;;http://evil\x07link\x1b]8;;\x07 b\u202e c\r\nd\x00"'
    found, _ = answers_of('ANSWERS = {"recurrence": ' + hostile + '}')
    assert found["recurrence"][0] == "alink b c\nd"


@pytest.mark.parametrize("source, problem", [
    ("ANSWERS = {", "the file does not parse (line 1), so the answers cannot be read"),
    ("ANSWERS = " + "[" * 5000 + "]" * 5000, "the file does not parse"),
    ("ANSWERS = ['a list']", "ANSWERS is not a dict"),
    ('ANSWERS = {"qkv": 3}', "ANSWERS['qkv'] is not a string"),
    ('CONFIDENCE = {"qkv": 6}', "CONFIDENCE['qkv'] is not a whole number from 1 to 5"),
    ('CONFIDENCE = {"qkv": True}', "CONFIDENCE['qkv'] is not a whole number from 1 to 5"),
    ('CONFIDENCE = {"qkv": "4"}', "CONFIDENCE['qkv'] is not a whole number from 1 to 5"),
    ("x = 1\0\n", "the file does not parse"),
])
def test_malformed_files_give_a_problem_line(source, problem):
    written = read_answers(source, QUESTIONS)
    assert len(written.problems) == 1 and written.problems[0].startswith(problem)
    assert all(a.answer is None for a in written.answers)


def test_a_missing_file_and_milestones_without_questions(tmp_path):
    found = written_answers(workspace_root=tmp_path, registry=REGISTRY, milestone_ids=["hilton", "gpt", "nope"])
    assert list(found) == ["hilton"] and found["hilton"].problems[0].startswith("the file could not be read")


def test_a_malformed_questions_file_names_the_file(tmp_path):
    from milestones.schema import MilestoneFormatError

    (tmp_path / QUESTIONS_FILE).write_text("format_version: 1\nquestions: []\n")
    with pytest.raises(MilestoneFormatError, match=QUESTIONS_FILE):
        questions_in(Path(tmp_path))
