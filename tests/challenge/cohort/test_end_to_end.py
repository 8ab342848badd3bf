"""The real thing, small: three real bundles (an honest pass, a forged pass, a
tampered bundle) verified in the sandbox by two real jobs, resumed, merged."""

from __future__ import annotations

import json

import pytest

from challenge.bundle.pack import submit
from challenge.record.workspace import init_workspace
from tests.challenge.bundle.conftest import requires_isolation
from tests.challenge.bundle.helpers import fake_pass, reference_source, rewrite

pytestmark = [pytest.mark.slow, requires_isolation]


def _invoke(*args) -> int:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    return done.value.code


def test_three_real_bundles_verified_resumed_and_merged(tmp_path, registry, capsys):
    from challenge.record.bookkeeping import start_milestone
    from challenge.feedback.grading import run_tests

    (tmp_path / "in").mkdir()
    honest = init_workspace(handle="ada", path=tmp_path / "ada")
    attention = registry.get("attention")
    start_milestone(workspace=honest, registry=registry, milestone=attention, predict_hours=2, predict_pass=0.7)
    (honest.milestone_dir(attention.folder) / attention.learner_file).write_text(reference_source())
    assert run_tests(workspace=honest, registry=registry, milestone=attention).result.status == "pass"
    ada = submit(workspace=honest, registry=registry, output=tmp_path / "in" / "ada.challenge.zip").zip_path
    forger = init_workspace(handle="eve", path=tmp_path / "eve")
    stub = (registry.folder(attention) / "stub.py").read_text()
    fake_pass(forger, registry, "attention", source=stub)  # claims a pass it never earned
    eve = submit(workspace=forger, registry=registry, output=tmp_path / "in" / "eve.challenge.zip").zip_path
    tampered = rewrite(ada, tmp_path / "in" / "mallory.challenge.zip",
                       {"workspace/01_attention/attention.py": b"import os\n"}, sign=False)

    output = tmp_path / "results"
    assert _invoke("cohort", "verify", ada, eve, tampered, "--jobs", "2", "--output", output) == 2
    documents = {json.loads(p.read_text())["source"].rsplit("/", 1)[1]: json.loads(p.read_text())
                 for p in output.glob("*.json")}
    assert {name: d["exit_code"] for name, d in documents.items()} == {
        "ada.challenge.zip": 0, "eve.challenge.zip": 1, "mallory.challenge.zip": 2}
    honest_doc = documents["ada.challenge.zip"]
    [checked] = honest_doc["verification"]["milestones"]
    assert checked["verified"] == "pass" and checked["sandbox"]["isolated"] is True
    assert documents["eve.challenge.zip"]["reason"].startswith("claimed passes that did not pass here: attention")
    assert "hash check failed" in documents["mallory.challenge.zip"]["reason"]
    capsys.readouterr()

    assert _invoke("cohort", "verify", ada, eve, tampered, "--jobs", "2", "--output", output) == 2
    assert "3 skipped as already verified" in capsys.readouterr().out

    assert _invoke("cohort", "merge", output, "--format", "json", "--output", tmp_path / "cohort.json") == 2
    report = json.loads((tmp_path / "cohort.json").read_text())
    assert [(b["label"], b["outcome"]) for b in report["bundles"]] == [
        ("ada", "verified"), ("eve", "not verified"), ("mallory.challenge.zip", "invalid")]
    assert report["verified"] == {"attention": {"claimed": 2, "verified": 1}}
