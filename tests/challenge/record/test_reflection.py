"""`challenge reflect`: answers from YAML or a prompt, validation, replacement
(the old answers stay in the log), and no torch import."""

import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from challenge.record.bookkeeping import start_milestone
from challenge.cli import app
from challenge.errors import UsageError
from challenge.output import Output
from challenge.record.reflection import (
    Answer, answers_template, parse_answers, read_answers_file, record_reflection, reflection_questions,
)
from milestones import load_registry

REGISTRY = load_registry()
ATTENTION = REGISTRY.get("attention")
QUESTIONS = reflection_questions(REGISTRY, ATTENTION)
IDS = [qid for qid, _ in QUESTIONS]


@pytest.fixture(autouse=True)
def _no_env_workspace(monkeypatch):
    monkeypatch.delenv("CHALLENGE_WORKSPACE", raising=False)


def all_fours(**override):
    return {qid: 4 for qid in IDS} | override


def started(workspace):
    start_milestone(workspace=workspace, registry=REGISTRY, milestone=ATTENTION)
    return workspace


def test_questions_are_the_shared_ones_then_the_milestones_own():
    assert IDS[: len(REGISTRY.questions.shared)] == REGISTRY.questions.shared
    assert IDS[-1] == "masking" and len(IDS) == len(set(IDS))


def test_parse_plain_ratings_and_ratings_with_text():
    answers = parse_answers(all_fours(masking={"rating": 2, "text": "  the NaN row  "}), QUESTIONS)
    assert answers["obvious"] == Answer(4, None)
    assert answers["masking"] == Answer(2, "the NaN row")
    assert parse_answers({"answers": all_fours()}, QUESTIONS)["pytorch"].rating == 4


@pytest.mark.parametrize("raw, message", [
    (all_fours(obvious=6), "obvious: the rating must be a whole number from 1 to 5"),
    (all_fours(obvious=True), "obvious: the rating must be"),
    (all_fours(obvious="4"), "obvious: the rating must be"),
    (all_fours(typo=3), "unknown question id(s): typo"),
    ({qid: 3 for qid in IDS[1:]}, "no rating for: obvious"),
    ([1, 2, 3], "expected a mapping"),
])
def test_parse_refuses_bad_answers(raw, message):
    with pytest.raises(UsageError) as error:
        parse_answers(raw, QUESTIONS)
    assert message in error.value.message and "--template" in error.value.hint


def test_filled_template_reads_back(tmp_path):
    template = answers_template(REGISTRY, ATTENTION)
    assert all(f"\n{qid}: \n" in template or template.endswith(f"\n{qid}: \n") for qid in IDS)
    filled = tmp_path / "a.yaml"
    filled.write_text(template.replace(": \n", ": 3\n"))
    assert {a.rating for a in read_answers_file(filled, QUESTIONS).values()} == {3}
    bad = tmp_path / "bad.yaml"
    bad.write_text("obvious: [unclosed\n")
    with pytest.raises(UsageError, match="not readable YAML"):
        read_answers_file(bad, QUESTIONS)
    with pytest.raises(UsageError, match="does not exist"):
        read_answers_file(tmp_path / "nope.yaml", QUESTIONS)


def test_record_needs_a_started_milestone(workspace):
    with pytest.raises(UsageError, match="not started"):
        record_reflection(workspace=workspace, milestone=ATTENTION, answers=parse_answers(all_fours(), QUESTIONS))


def test_rerunning_replaces_and_keeps_the_old_answers_in_the_log(workspace):
    started(workspace)
    first = record_reflection(workspace=workspace, milestone=ATTENTION, answers=parse_answers(all_fours(), QUESTIONS))
    second = record_reflection(workspace=workspace, milestone=ATTENTION,
                               answers=parse_answers(all_fours(obvious={"rating": 2, "text": "hard"}), QUESTIONS))
    assert not first.replaced and second.replaced
    reflects = [e for e in workspace.log.read().events if e.type == "reflect"]
    assert [e.data["answers"]["obvious"] for e in reflects] == [{"rating": 4, "text": None},
                                                                {"rating": 2, "text": "hard"}]


def test_cli_with_answers_file(workspace, tmp_path):
    started(workspace)
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(all_fours(masking={"rating": 5, "text": "clear"})))
    runner = CliRunner()
    result = runner.invoke(app, ["reflect", "attention", "--answers", str(answers), "--workspace", str(workspace.root)])
    assert result.exit_code == 0, result.output
    assert "Reflection on attention saved" in result.output
    again = runner.invoke(app, ["reflect", "1", "--answers", str(answers), "--workspace", str(workspace.root)])
    assert again.exit_code == 0 and "earlier answers were replaced" in again.output


def test_cli_template_and_non_interactive_refusal(workspace):
    started(workspace)
    runner = CliRunner()
    template = runner.invoke(app, ["reflect", "attention", "--template", "--workspace", str(workspace.root)])
    assert template.exit_code == 0 and "masking: " in template.output
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main(["reflect", "attention", "--workspace", str(workspace.root)])
    assert done.value.code == 2


def test_cli_asks_on_a_terminal(workspace, monkeypatch):
    started(workspace)
    monkeypatch.setattr(Output, "interactive", property(lambda self: True))
    typed = ["9", "3", "note"] + ["4", ""] * (len(IDS) - 1)  # 9 is refused and asked again
    result = CliRunner().invoke(app, ["reflect", "attention", "--workspace", str(workspace.root)],
                                input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    (event,) = [e for e in workspace.log.read().events if e.type == "reflect"]
    assert event.data["answers"]["obvious"] == {"rating": 3, "text": "note"}
    assert event.data["answers"]["masking"] == {"rating": 4, "text": None}


def test_reflect_does_not_import_torch(workspace, tmp_path):
    started(workspace)
    answers = tmp_path / "answers.yaml"
    answers.write_text(yaml.safe_dump(all_fours()))
    argv = ["reflect", "attention", "--answers", str(answers), "--workspace", str(workspace.root)]
    code = ("import sys\nfrom challenge.cli import main\ntry:\n    main(%r)\nexcept SystemExit as done:\n"
            "    assert done.code == 0, done.code\nprint('torch imported' if 'torch' in sys.modules else 'no torch')"
            % argv)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().endswith("no torch"), done.stdout + done.stderr


def test_the_template_written_to_a_file_fills_in_and_reads_back(workspace, tmp_path):
    """The route `reflect` recommends without a terminal, as a shell runs it: `--template > answers.yaml`
    (stdout a file, no COLUMNS), filled in, then `--answers answers.yaml`."""
    started(workspace)
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("COLUMNS", "LINES", "TERM")}
    answers = tmp_path / "answers.yaml"
    with answers.open("w") as sink:
        made = subprocess.run([sys.executable, "-m", "challenge", "reflect", "attention", "--template",
                               "--workspace", str(workspace.root)], stdout=sink, stderr=subprocess.PIPE, text=True,
                              env=env, timeout=120)
    assert made.returncode == 0, made.stderr
    written = answers.read_text(encoding="utf-8")
    assert written == answers_template(REGISTRY, ATTENTION), "the file must be the template, byte for byte"
    assert max(len(line) for line in written.splitlines()) > 80  # long enough that a wrap at 80 would show
    assert "\x1b" not in written
    answers.write_text(written.replace(": \n", ": 2\n"), encoding="utf-8")
    read = subprocess.run([sys.executable, "-m", "challenge", "reflect", "attention", "--answers", str(answers),
                           "--workspace", str(workspace.root)], capture_output=True, text=True, env=env, timeout=120)
    assert read.returncode == 0, read.stderr
    (event,) = [e for e in workspace.log.read().events if e.type == "reflect"]
    assert {a["rating"] for a in event.data["answers"].values()} == {2} and set(event.data["answers"]) == set(IDS)


def test_a_question_over_several_lines_stays_a_comment(monkeypatch):
    """Every line of a question's text is commented: only the ids are YAML content."""
    import challenge.record.reflection
    from milestones.schema import Question

    question = Question.model_validate({"text": "first line\nsecond: line", "low": "a\nb", "high": "c",
                                        "area": "x"})
    monkeypatch.setattr(challenge.record.reflection, "reflection_questions", lambda registry, m: [("custom", question)])
    assert yaml.safe_load(answers_template(REGISTRY, ATTENTION)) == {"custom": None}


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_the_template_on_a_narrow_terminal_is_the_template_unwrapped(workspace):
    """On a terminal too, --template prints the file's content as it is (copy-paste gives valid YAML)."""
    import os

    import pexpect

    started(workspace)
    env = {k: v for k, v in os.environ.items() if k not in ("CHALLENGE_WORKSPACE", "COLUMNS", "LINES")}
    child = pexpect.spawn(sys.executable, ["-m", "challenge", "reflect", "attention", "--template", "--workspace",
                                           str(workspace.root)], env=env, encoding="utf-8", timeout=60,
                          dimensions=(24, 40))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert child.before.replace("\r\n", "\n") == answers_template(REGISTRY, ATTENTION)
