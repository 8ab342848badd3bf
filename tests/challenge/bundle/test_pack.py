"""`challenge submit`: the bundle's layout and manifest, the export folder,
and the refusals (nothing passed, a broken log, a non-empty export folder)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile

import pytest

from challenge.bundle.integrity import open_bundle
from challenge.bundle.pack import bundle_name, submit
from challenge.errors import ChallengeError, LogCorrupted, UsageError
from tests.challenge.bundle.helpers import REPO, fake_pass, reference_source


def _invoke(*args, cwd) -> int:
    import os

    from challenge.cli import main

    old = os.getcwd()
    os.chdir(cwd)
    try:
        with pytest.raises(SystemExit) as done:
            main(list(args))
    finally:
        os.chdir(old)
    return done.value.code


def _fake_checkpoint(workspace, registry):
    classifier = registry.get("classifier")
    workspace.milestone_dir(classifier.folder).mkdir()
    (workspace.milestone_dir(classifier.folder) / classifier.learner_file).write_text("# my classifier\n")
    workspace.log.append("start", milestone="classifier", data={})
    folder = workspace.milestone_dir(classifier.folder) / "checkpoints" / "20300101T000000"
    folder.mkdir(parents=True)
    for name in ("model.safetensors", "config.json", "training_log.jsonl"):
        (folder / name).write_text("{}")
    (folder.parent / "latest.json").write_text(json.dumps({"checkpoint": folder.name}))
    (workspace.root / ".cache").mkdir()
    (workspace.root / ".cache" / "tokeniser.json").write_text("{}")


def test_the_bundle_holds_code_results_log_report_and_a_manifest(tmp_path, workspace, registry):
    fake_pass(workspace, registry, "attention", source=reference_source())
    _fake_checkpoint(workspace, registry)
    result = submit(workspace=workspace, registry=registry, cwd=tmp_path)
    assert result.zip_path == tmp_path / bundle_name("ada", workspace.clock())
    assert result.passed == ["attention"] and result.in_progress == ["classifier"]
    with zipfile.ZipFile(result.zip_path) as bundle:
        names = set(bundle.namelist())
        manifest = json.loads(bundle.read("manifest.json"))
        for name, entry in manifest["files"].items():
            assert hashlib.sha256(bundle.read(name)).hexdigest() == entry["sha256"], name
        readme = bundle.read("README.md").decode()
        assert readme.startswith("#") and "report/" in readme  # the report, its plots linked from the root
    assert names == set(manifest["files"]) | {"manifest.json"}
    assert {"workspace/workspace.json", "workspace/events.jsonl", "workspace/01_attention/attention.py",
            "workspace/01_attention/results/fake-pass.json", "workspace/04_classifier/classifier.py",
            "workspace/04_classifier/checkpoints/latest.json",
            "workspace/04_classifier/checkpoints/20300101T000000/model.safetensors",
            "workspace/04_classifier/checkpoints/20300101T000000/config.json",
            "report/report.md", "report/report.html", "report/report.json"} <= names
    assert not any(".cache" in n or n.endswith("/README.md") or n.endswith(".lock") for n in names)
    assert manifest["schema"] == "challenge-bundle" and manifest["version"] == 1 and manifest["handle"] == "ada"
    assert manifest["grader_version"] and set(manifest["environment"]) >= {"python", "torch", "os", "devices"}
    entries = {m["id"]: m for m in manifest["milestones"]}
    assert entries["attention"]["hidden_tests_sha256"] == "0" * 64 and entries["attention"]["grader_version"]
    assert entries["classifier"]["checkpoint"] == "workspace/04_classifier/checkpoints/20300101T000000"
    events = [json.loads(line) for line in (workspace.root / "events.jsonl").read_text().splitlines()]
    assert manifest["event_log"] == {"path": "workspace/events.jsonl", "events": len(events),
                                     "head": events[-1]["hash"]}
    assert events[-1]["type"] == "submit"
    with open_bundle(result.zip_path) as opened:
        assert opened.problems == [] and opened.manifest.handle == "ada"


def test_the_export_folder_is_the_same_content_with_the_report_as_readme(tmp_path, workspace, registry):
    fake_pass(workspace, registry, "attention", source=reference_source())
    result = submit(workspace=workspace, registry=registry, export_dir=tmp_path / "repo")
    assert result.zip_path is None
    readme = (tmp_path / "repo" / "README.md").read_text()
    assert readme == (tmp_path / "repo" / "report" / "report.md").read_text().replace("](", "](report/")
    with open_bundle(tmp_path / "repo") as opened:
        assert opened.problems == []
    (tmp_path / "repo" / ".git").mkdir()  # pushed and cloned: git's folder is not part of the bundle
    (tmp_path / "repo" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    with open_bundle(tmp_path / "repo") as opened:
        assert opened.problems == []
    with pytest.raises(UsageError, match="not empty"):
        submit(workspace=workspace, registry=registry, export_dir=tmp_path / "repo")


def test_nothing_passed_is_refused(tmp_path, workspace, registry):
    fake_pass(workspace, registry, "attention", status="fail")
    with pytest.raises(ChallengeError, match="no milestone has passed"):
        submit(workspace=workspace, registry=registry, cwd=tmp_path)
    assert list(tmp_path.glob("*.zip")) == []


def test_a_broken_log_is_refused(tmp_path, workspace, registry):
    fake_pass(workspace, registry, "attention")
    log = workspace.root / "events.jsonl"
    log.write_text(log.read_text().replace('"predict_hours":1.0', '"predict_hours":9.0'))
    with pytest.raises(LogCorrupted):
        submit(workspace=workspace, registry=registry, cwd=tmp_path)


def test_the_cli_warns_about_milestones_in_progress(tmp_path, workspace, registry, capsys):
    fake_pass(workspace, registry, "attention")
    fake_pass(workspace, registry, "multihead", status="fail")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert _invoke("submit", "--workspace", str(workspace.root), "--output", str(out_dir), cwd=tmp_path) == 0
    captured = capsys.readouterr()
    assert "'multihead' is in progress" in captured.err and "Bundle written" in captured.out
    assert len(list(out_dir.glob("ada-*.challenge.zip"))) == 1


def test_the_cli_refuses_an_empty_submission(tmp_path, workspace, capsys):
    assert _invoke("submit", "--workspace", str(workspace.root), cwd=tmp_path) == 1
    assert "Nothing to submit" in capsys.readouterr().err


def test_submit_show_and_cohort_do_not_import_torch(tmp_path, workspace, registry):
    fake_pass(workspace, registry, "attention", source=reference_source())
    script = f"""
import sys
from challenge.cli import main
for argv in (["submit", "--workspace", {str(workspace.root)!r}, "--output", {str(tmp_path / "b.zip")!r}],
             ["show", {str(tmp_path / "b.zip")!r}, "--format", "md"],
             ["cohort", {str(tmp_path / "b.zip")!r}]):
    try:
        main(argv)
    except SystemExit as done:
        assert done.code == 0, (argv, done.code)
print("TORCH" if "torch" in sys.modules else "NO-TORCH", file=sys.stderr)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "NO-TORCH" in done.stderr
