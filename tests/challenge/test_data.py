"""`challenge data fetch | import | status`, and what `train` says without data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from challenge import data as data_module
from milestones import corpora
from milestones.tasks import sources

REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str]:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code, ""


def cli(capsys, *args: str) -> tuple[int, str]:
    code, _ = run(*args)
    captured = capsys.readouterr()
    return code, " ".join((captured.out + captured.err).split())


# -- import -----------------------------------------------------------------------------------------


def test_import_validates_and_copies_byte_for_byte(capsys, no_data, fixture_data):
    code, said = cli(capsys, "data", "import", str(fixture_data))
    assert code == 0, said
    assert "rt_polarity: imported (rt-polarity.pos 40 rows, rt-polarity.neg 40 rows)" in said
    assert "ag_news: imported (train.csv 48 rows, test.csv 16 rows)" in said
    for path in ("rt-polarity/rt-polarity.pos", "rt-polarity/rt-polarity.neg", "ag_news/train.csv", "ag_news/test.csv"):
        assert (no_data / path).read_bytes() == (fixture_data / path).read_bytes()
    assert sorted(p.name for p in no_data.iterdir()) == [".lock", "ag_news", "rt-polarity"]  # no staging left
    assert sources.load_corpus("ag_news", data_dir=None).source == f"local:{no_data.resolve()}"


def test_import_takes_the_names_the_downloads_unpack_to(tmp_path, capsys, no_data, fixture_data):
    shutil.copytree(fixture_data / "rt-polarity", tmp_path / "dl" / "rt-polaritydata")
    code, said = cli(capsys, "data", "import", str(tmp_path / "dl"))
    assert code == 0 and "rt_polarity: imported" in said and "ag_news" not in said
    assert (no_data / "rt-polarity" / "rt-polarity.pos").is_file() and not (no_data / "ag_news").exists()


def test_one_bad_file_imports_nothing_and_says_where(tmp_path, capsys, no_data, fixture_data):
    shutil.copytree(fixture_data, tmp_path / "copy")
    (tmp_path / "copy" / "ag_news" / "test.csv").write_text('"1","title","text"\n"9","x","y"\n', encoding="utf-8")
    code, said = cli(capsys, "data", "import", str(tmp_path / "copy"))
    assert code == 1 and "Nothing was imported" in said
    assert "test.csv,line2:class'9'isnot1-4" in said.replace(" ", "")  # the path may wrap anywhere
    assert not no_data.exists() or not any(no_data.iterdir())


def test_import_of_a_folder_without_data_is_a_usage_error(tmp_path, capsys, no_data):
    assert cli(capsys, "data", "import", str(tmp_path))[0] == 2
    code, said = cli(capsys, "data", "import", str(tmp_path / "absent"))
    assert code == 2 and "is not a folder" in said


def test_a_second_import_replaces_the_first_whole(tmp_path, capsys, no_data, fixture_data):
    assert cli(capsys, "data", "import", str(fixture_data))[0] == 0
    shutil.copytree(fixture_data / "rt-polarity", tmp_path / "new" / "rt-polarity")
    (tmp_path / "new" / "rt-polarity" / "rt-polarity.neg").write_text("only one line .\n", encoding="utf-8")
    code, said = cli(capsys, "data", "import", str(tmp_path / "new"))
    assert code == 0 and "rt-polarity.neg 1 rows" in said
    assert (no_data / "rt-polarity" / "rt-polarity.neg").read_text() == "only one line .\n"
    assert (no_data / "ag_news" / "train.csv").is_file()  # the other data set is untouched


# -- fetch ------------------------------------------------------------------------------------------


def test_fetch_offline_fails_fast_and_points_to_import(capsys, no_data):
    started = time.monotonic()
    code, said = cli(capsys, "data", "fetch")
    assert code == 1 and time.monotonic() - started < 5
    assert "the Hugging Face hub is not reachable" in said and "challenge data import DIR" in said
    assert not no_data.exists()


def test_fetch_writes_the_original_formats_and_loads_like_an_import(tmp_path, capsys, monkeypatch, no_data,
                                                                     fixture_data):
    """With a stand-in for the hub: what fetch writes is what import would have copied (the same corpus)."""
    from tests.milestones.test_tasks import fake_hub_datasets

    pos = corpora.read_polarity_file(fixture_data / "rt-polarity" / "rt-polarity.pos")
    neg = corpora.read_polarity_file(fixture_data / "rt-polarity" / "rt-polarity.neg")
    monkeypatch.setitem(sys.modules, "datasets", fake_hub_datasets(pos, neg))
    monkeypatch.setattr(data_module, "hub_available", lambda source: True)
    code, said = cli(capsys, "data", "fetch", "rt_polarity")
    assert code == 0 and "rt_polarity: downloaded (rt-polarity.pos 40 rows, rt-polarity.neg 40 rows)" in said
    fetched = sources.load_corpus("rt_polarity", data_dir=None)
    assert fetched.source == f"local:{no_data.resolve()}"
    assert fetched.fingerprint == sources.load_corpus("rt_polarity", data_dir=fixture_data).fingerprint
    code, said = cli(capsys, "data", "fetch", "rt_polarity")
    assert code == 0 and "already there" in said  # once


def test_fetched_ag_news_keeps_every_text_and_label(tmp_path, capsys, monkeypatch, no_data, fixture_data):
    texts, labels = corpora.read_ag_news_file(fixture_data / "ag_news" / "train.csv")
    hub = {"train": {"text": texts, "label": labels}, "test": {"text": texts[:5], "label": labels[:5]}}
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=lambda hub_id: hub))
    monkeypatch.setattr(data_module, "hub_available", lambda source: True)
    assert cli(capsys, "data", "fetch", "ag_news")[0] == 0
    fetched = sources.load_corpus("ag_news", data_dir=None)
    original = sources.load_corpus("ag_news", data_dir=fixture_data)
    assert fetched.splits["train"] == original.splits["train"] and fetched.fingerprint != ""


def test_fetch_of_an_unknown_data_set_is_a_usage_error(capsys, no_data):
    code, said = cli(capsys, "data", "fetch", "imdb")
    assert code == 2 and "Known: rt_polarity, ag_news" in said


# -- status -----------------------------------------------------------------------------------------


def test_status_says_what_is_where_and_which_milestones_it_serves(capsys, monkeypatch, no_data, fixture_data):
    shutil.copytree(fixture_data / "ag_news", no_data / "ag_news")
    code, said = cli(capsys, "data", "status")
    assert code == 0 and "CHALLENGE_DATA_DIR: not set" in said and f"cache folder: {no_data}" in said
    assert "challenge data fetch" in said and "computed, nothing to download: grokking" in said
    run("data", "status", "--json")
    document = json.loads(capsys.readouterr().out)
    by_name = {c["name"]: c for c in document["corpora"]}
    assert by_name["rt_polarity"]["used"] is None and by_name["rt_polarity"]["milestones"] == ["classifier"]
    assert by_name["ag_news"]["used"] == str(no_data) and {"bert", "gpt"} <= set(by_name["ag_news"]["milestones"])
    assert by_name["ag_news"]["places"][0]["rows"] == {"train.csv": 48, "test.csv": 16}
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(fixture_data))
    run("data", "status", "--json")
    document = json.loads(capsys.readouterr().out)
    assert [c["used"] for c in document["corpora"]] == [str(fixture_data), str(fixture_data)]


def test_status_shows_the_folder_the_loaders_would_use_even_when_it_does_not_load(tmp_path, capsys, monkeypatch,
                                                                                  no_data, fixture_data):
    shutil.copytree(fixture_data, no_data)  # a good copy in the cache ...
    shutil.copytree(fixture_data, tmp_path / "mine")  # ... and a broken one searched first
    (tmp_path / "mine" / "ag_news" / "train.csv").write_text('"1","only two"\n', encoding="utf-8")
    monkeypatch.setenv("CHALLENGE_DATA_DIR", str(tmp_path / "mine"))
    run("data", "status", "--json")
    ag_news = json.loads(capsys.readouterr().out)["corpora"][1]
    assert ag_news["used"] == str(tmp_path / "mine") and "2 fields, expected 3" in ag_news["places"][0]["problem"]
    with pytest.raises(sources.DataUnavailable, match="2 fields, expected 3"):
        sources.load_corpus("ag_news", data_dir=None)  # what status said: the loaders stop there
    code, said = cli(capsys, "data", "status")
    assert code == 0 and "cannot load" in said


def test_status_imports_no_torch(no_data):
    code = ("import sys; from challenge.cli import main\n"
            "try:\n    main(['data', 'status'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "False", done.stderr


# -- train without data ------------------------------------------------------------------------------


def test_train_without_data_names_the_milestone_the_data_set_and_the_command(workspace, capsys, no_data):
    from challenge.record.bookkeeping import start_milestone
    from milestones import load_registry

    registry = load_registry()
    start_milestone(workspace=workspace, registry=registry, milestone=registry.get("classifier"),
                    predict_hours=4, predict_pass=0.5)
    code, said = cli(capsys, "train", "classifier", "--workspace", str(workspace.root))
    assert code == 1
    assert "'classifier' has no data to work with" in said and "rt_polarity" in said
    assert f"cache folder {no_data}: no rt-polarity/rt-polarity.pos" in said
    assert "Fix: challenge data fetch" in said and "challenge data import DIR" in said
    assert "training classifier" not in said  # no progress bar for a run that cannot start
