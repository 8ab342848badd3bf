"""The rules for writing a cell as the milestone's file (no IPython needed): never lose code the notebook
has not seen without asking."""

from __future__ import annotations

import pytest

from challenge.notebook.cells import NotOverwritten, read_known, remember, save_cell, sha256_of, unseen_change

STUB = b"def f():\n    raise NotImplementedError\n"


@pytest.fixture
def learner_file(workspace):
    path = workspace.root / "01_attention" / "attention.py"
    path.parent.mkdir(parents=True)
    path.write_bytes(STUB)
    return path


class Asked:
    """Records the questions; answers with ``answer`` (None: this kernel cannot ask)."""

    def __init__(self, answer):
        self.answer, self.questions = answer, []

    def __call__(self, question):
        self.questions.append(question)
        return self.answer


def save(workspace, path, cell, *, ask, overwrite=False):
    return save_cell(workspace=workspace, path=path, cell=cell, stub=STUB, overwrite=overwrite, ask=ask,
                     magic="%%challenge test attention")


def test_the_stub_and_a_missing_file_are_replaced_without_asking(workspace, learner_file):
    ask = Asked(False)
    save(workspace, learner_file, "x = 1", ask=ask)
    assert learner_file.read_text() == "x = 1\n"
    other = learner_file.with_name("new.py")
    save(workspace, other, "y = 2\n\n\n", ask=ask)
    assert other.read_text() == "y = 2\n"
    assert ask.questions == []


def test_what_the_notebook_wrote_last_is_replaced_without_asking(workspace, learner_file):
    ask = Asked(False)
    save(workspace, learner_file, "x = 1", ask=ask)
    save(workspace, learner_file, "x = 2", ask=ask)
    assert learner_file.read_text() == "x = 2\n" and ask.questions == []
    assert read_known(workspace) == {"01_attention/attention.py": sha256_of(b"x = 2\n")}


def test_a_file_edited_elsewhere_is_not_replaced_in_a_kernel_that_cannot_ask(workspace, learner_file):
    save(workspace, learner_file, "x = 1", ask=Asked(None))
    learner_file.write_text("x = 'edited in my editor'\n")
    ask = Asked(None)
    with pytest.raises(NotOverwritten) as refused:
        save(workspace, learner_file, "x = 3", ask=ask)
    assert learner_file.read_text() == "x = 'edited in my editor'\n"
    assert len(ask.questions) == 1 and "changed on disk since this notebook last wrote it" in ask.questions[0]
    assert "cannot ask" in refused.value.message and "nothing was graded" in refused.value.message
    assert "%%challenge test attention --overwrite" in refused.value.hint and "%load" in refused.value.hint


def test_a_file_edited_elsewhere_is_replaced_when_the_learner_agrees_or_says_overwrite(workspace, learner_file):
    learner_file.write_text("x = 'mine'\n")  # never written by the notebook, and not the stub
    with pytest.raises(NotOverwritten) as refused:
        save(workspace, learner_file, "x = 3", ask=Asked(False))
    assert "not written or loaded" in refused.value.message and "cannot ask" not in refused.value.message
    assert learner_file.read_text() == "x = 'mine'\n"
    save(workspace, learner_file, "x = 3", ask=Asked(True))
    assert learner_file.read_text() == "x = 3\n"
    learner_file.write_text("x = 'mine again'\n")
    ask = Asked(False)
    save(workspace, learner_file, "x = 4", ask=ask, overwrite=True)
    assert learner_file.read_text() == "x = 4\n" and ask.questions == []


def test_a_file_loaded_into_a_cell_counts_as_seen(workspace, learner_file):
    learner_file.write_text("x = 'mine'\n")
    remember(workspace, learner_file, learner_file.read_bytes())  # what `%challenge start` does
    save(workspace, learner_file, "x = 5", ask=Asked(False))
    assert learner_file.read_text() == "x = 5\n"


def test_the_same_content_is_never_a_question(tmp_path):
    path = tmp_path / "a.py"
    path.write_bytes(b"x = 1\n")
    assert unseen_change(path=path, new=b"x = 1\n", known_sha256="0" * 64, stub=None) is None


def test_an_unreadable_record_knows_nothing(workspace, learner_file):
    (workspace.root / ".notebook").mkdir()
    (workspace.root / ".notebook" / "known.json").write_text("[not json")
    assert read_known(workspace) == {}
    learner_file.write_text("x = 'mine'\n")
    with pytest.raises(NotOverwritten):
        save(workspace, learner_file, "x = 3", ask=Asked(None))


def test_an_empty_cell_is_refused(workspace, learner_file):
    with pytest.raises(NotOverwritten, match="empty"):
        save(workspace, learner_file, "  \n", ask=Asked(True))
    assert learner_file.read_bytes() == STUB
