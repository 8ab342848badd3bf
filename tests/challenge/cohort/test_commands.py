"""`challenge cohort compare | verify | merge` on the command line (fake jobs:
no sandbox): the old form still works, exit codes summarise, errors are
messages, and --help has examples."""

from __future__ import annotations

import json

import pytest

import challenge.cohort.run
from challenge.bundle.pack import submit
from challenge.record.workspace import init_workspace
from tests.challenge.bundle.helpers import fake_pass, reference_source
from tests.challenge.cohort.fakes import fake_bundle, fake_command
from tests.conftest import FakeClock


def _invoke(*args) -> int:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


@pytest.fixture
def fake_jobs(monkeypatch):
    monkeypatch.setattr(challenge.cohort.run, "job_command", fake_command)
    monkeypatch.setattr(challenge.cohort.run, "isolation_problem", lambda: None)


def test_the_old_form_and_compare_show_the_same_report(tmp_path, registry, capsys):
    workspace = init_workspace(handle="ada", path=tmp_path / "ada", clock=FakeClock())
    fake_pass(workspace, registry, "attention", source=reference_source())
    bundle = submit(workspace=workspace, registry=registry, output=tmp_path / "ada.zip").zip_path
    assert _invoke("cohort", "compare", bundle, "--format", "md") == 0
    new = capsys.readouterr().out
    assert _invoke("cohort", bundle, "--format", "md") == 0
    old = capsys.readouterr().out
    assert _invoke("cohort", "--format", "md", bundle) == 0  # options first, as before the group existed
    first_option = capsys.readouterr().out
    def strip(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("Generated")]

    assert strip(new) == strip(old) == strip(first_option) and "| attention |" in new


def test_verify_then_merge_on_the_command_line(tmp_path, fake_jobs, capsys):
    bundles = [fake_bundle(tmp_path / "in", "ada"), fake_bundle(tmp_path / "in", "bo", exit_code=1)]
    assert _invoke("cohort", "verify", *bundles, "--jobs", "2", "--output", tmp_path / "out") == 1
    captured = capsys.readouterr()
    assert "2 bundles" in captured.out and "not verified (1) bo.challenge.zip" in " ".join(captured.out.split())
    assert "✓ verified ada.challenge.zip" in captured.err
    assert _invoke("cohort", "verify", *bundles, "--output", tmp_path / "out") == 1  # resumed: same summary
    assert "2 skipped as already verified" in capsys.readouterr().out
    assert _invoke("cohort", "merge", tmp_path / "out", "--output", tmp_path / "cohort.json") == 1
    report = json.loads((tmp_path / "cohort.json").read_text())
    assert report["counts"]["verified"] == 1 and report["counts"]["not verified"] == 1
    assert _invoke("cohort", "merge", tmp_path / "out", "--output", tmp_path / "cohort.html") == 1
    assert (tmp_path / "cohort.html").read_text().startswith("<!doctype html>")
    assert _invoke("cohort", "merge", tmp_path / "out", "--format", "md") == 1
    assert "| bo | not verified (1) | pass / fail 3/21 ✗ |" in capsys.readouterr().out
    assert _invoke("cohort", "merge", tmp_path / "out") == 1
    assert "Per learner: claimed / verified here" in capsys.readouterr().out


def test_shards_on_the_command_line_merge_to_the_unsharded_report(tmp_path, fake_jobs):
    bundles = [fake_bundle(tmp_path / "in", f"l{i}", exit_code=i % 2, hours=1 + i) for i in range(5)]
    _invoke("cohort", "verify", *bundles, "--jobs", "2", "--output", tmp_path / "all")
    for index in (1, 2, 3):
        _invoke("cohort", "verify", *bundles, "--shard", f"{index}/3", "--output", tmp_path / f"s{index}")
    sizes = [len(list((tmp_path / f"s{i}").glob("*.json"))) for i in (1, 2, 3)]
    assert sorted(sizes) == [1, 2, 2]
    _invoke("cohort", "merge", tmp_path / "all", "--output", tmp_path / "all.json")
    _invoke("cohort", "merge", *[tmp_path / f"s{i}" for i in (1, 2, 3)], "--output", tmp_path / "shards.json")
    assert (tmp_path / "all.json").read_bytes() == (tmp_path / "shards.json").read_bytes()


def test_errors_are_messages_with_exit_codes(tmp_path, fake_jobs, monkeypatch, capsys):
    bundle = fake_bundle(tmp_path / "in", "ada")
    assert _invoke("cohort", "verify", bundle, "--shard", "5/4", "--output", tmp_path / "o") == 2
    assert "is not I/N" in capsys.readouterr().err
    assert _invoke("cohort", "verify", tmp_path / "missing.zip", "--output", tmp_path / "o") == 2
    assert "Cannot read" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert _invoke("cohort", "merge", tmp_path / "empty") == 2
    assert "No results documents" in capsys.readouterr().err
    monkeypatch.setattr(challenge.cohort.run, "isolation_problem", lambda: "no user namespaces")
    assert _invoke("cohort", "verify", bundle, "--output", tmp_path / "o") == 3
    assert "cannot isolate" in capsys.readouterr().err


def test_help_has_examples_and_the_memory_per_job(capsys):
    for command in (("cohort",), ("cohort", "verify"), ("cohort", "merge"), ("cohort", "compare")):
        assert _invoke(*command, "--help") == 0
        text = " ".join(capsys.readouterr().out.split())
        assert "Examples" in text and "challenge cohort" in text
    _invoke("cohort", "verify", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "of memory each" in text and "sorted by content hash" in text
