"""milestones.corpora: where the data sets are looked for, and what counts as the original formats."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from milestones import corpora
from milestones.corpora import AG_NEWS, RT_POLARITY, DataFileError, check_source_folder, find_local

REPO = Path(__file__).resolve().parents[2]


def test_cache_folder_follows_its_variable_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.delenv("CHALLENGE_DATA_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert corpora.cache_folder() == tmp_path / "home" / ".cache" / "challenge" / "data"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert corpora.cache_folder() == tmp_path / "xdg" / "challenge" / "data"
    monkeypatch.setenv("CHALLENGE_DATA_CACHE", str(tmp_path / "mine"))
    assert corpora.cache_folder() == tmp_path / "mine"


def test_the_data_dir_is_searched_before_the_cache(tmp_path, monkeypatch, no_data, fixture_data):
    assert find_local(RT_POLARITY) is None
    shutil.copytree(fixture_data / "rt-polarity", no_data / "rt-polarity")
    assert find_local(RT_POLARITY).folder == no_data and find_local(AG_NEWS) is None
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(fixture_data))
    assert find_local(RT_POLARITY).label == "CHALLENGE_DATA_DIR" and find_local(AG_NEWS).folder == fixture_data
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataFileError, match="nowhere, which is not a folder"):
        find_local(RT_POLARITY)


def test_the_tiny_copies_are_valid_and_counted(fixture_data):
    rt = check_source_folder(RT_POLARITY, fixture_data / "rt-polarity")
    ag = check_source_folder(AG_NEWS, fixture_data / "ag_news")
    assert rt.ok and rt.rows == {"rt-polarity.pos": 40, "rt-polarity.neg": 40}
    assert ag.ok and ag.rows == {"train.csv": 48, "test.csv": 16}


@pytest.mark.parametrize("content, problem", [
    ('"Class Index","Title","Description"\n"1","a","b"\n',
     "line 1: class 'Class Index' is not 1-4 (the original format has no header row)"),
    ('"1","a","b"\n"2","only two"\n', "line 2: 2 fields, expected 3 (class, title, description)"),
    ('"1","a","b"\n"5","a","b"\n', "line 2: class '5' is not 1-4"),
    ('"1","a","b\n', "not CSV"),
    ("", "has no rows"),
])
def test_a_malformed_ag_news_file_is_named_with_its_line(tmp_path, fixture_data, content, problem):
    folder = tmp_path / "ag_news"
    shutil.copytree(fixture_data / "ag_news", folder)
    (folder / "test.csv").write_text(content, encoding="utf-8")
    check = check_source_folder(AG_NEWS, folder)
    assert not check.ok and str(folder / "test.csv") in check.problem and problem in check.problem


def test_a_missing_or_empty_polarity_file_is_named(tmp_path, fixture_data):
    folder = tmp_path / "rt-polarity"
    shutil.copytree(fixture_data / "rt-polarity", folder)
    (folder / "rt-polarity.neg").write_text("\n\n", encoding="utf-8")
    assert "rt-polarity.neg is empty" in check_source_folder(RT_POLARITY, folder).problem
    (folder / "rt-polarity.neg").unlink()
    assert check_source_folder(RT_POLARITY, folder).problem == f"no rt-polarity.neg in {folder}"


def test_written_rows_read_back_as_the_same_rows(tmp_path):
    texts, labels = ['He said "yes", twice', "Commas, \\ and\nnewlines"], [0, 3]
    (tmp_path / "test.csv").write_text(corpora.ag_news_csv(texts, labels), encoding="utf-8")
    assert corpora.read_ag_news_file(tmp_path / "test.csv") == ([f"{t} " for t in texts], labels)
    assert corpora.polarity_text(["a b .", " c\nd "]) == "a b .\nc d\n"


def test_task_corpora_are_those_of_the_pipeline():
    """The torch-free table says the same as the data pipeline's task definitions."""
    from milestones.tasks import TASKS

    assert corpora.TASK_CORPUS == {name: task.corpus for name, task in TASKS.items()}


def test_importing_corpora_imports_no_torch():
    code = "import sys, milestones.corpora; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
