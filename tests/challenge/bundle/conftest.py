"""Fixtures: one really graded bundle (built once), a registry, and a verifier
whose home, working folder and temp folder are private folders we can watch."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from challenge.bundle.pack import submit
from challenge.bundle.verify import isolation_problem
from challenge.record.workspace import init_workspace
from tests.challenge.bundle.helpers import reference_source

requires_isolation = pytest.mark.skipif(isolation_problem() is not None,
                                        reason=f"this machine cannot sandbox learner code: {isolation_problem()}")


@pytest.fixture(scope="session")
def graded_bundle(tmp_path_factory, registry) -> Path:
    """A workspace whose attention passed real hidden tests, submitted once."""
    from challenge.record.bookkeeping import start_milestone
    from challenge.feedback.grading import run_tests

    root = tmp_path_factory.mktemp("graded")
    workspace = init_workspace(handle="ada", path=root / "ws")
    attention = registry.get("attention")
    start_milestone(workspace=workspace, registry=registry, milestone=attention, predict_hours=2, predict_pass=0.7)
    (workspace.milestone_dir(attention.folder) / attention.learner_file).write_text(reference_source())
    outcome = run_tests(workspace=workspace, registry=registry, milestone=attention)
    assert outcome.result.status == "pass", outcome.result
    return submit(workspace=workspace, registry=registry, output=root / "ada.challenge.zip").zip_path


@dataclass(frozen=True)
class Verifier:
    """The employer's machine, as far as the tests can see it."""

    root: Path
    home: Path
    cwd: Path
    tmp: Path


@pytest.fixture
def verifier(tmp_path, monkeypatch) -> Verifier:
    folders = Verifier(tmp_path, tmp_path / "home", tmp_path / "cwd", tmp_path / "tmp")
    for folder in (folders.home, folders.cwd, folders.tmp):
        folder.mkdir()
    (folders.home / ".ssh").mkdir()
    (folders.home / ".ssh" / "id_ed25519").write_text("PRIVATE-KEY-OF-THE-VERIFIER\n")
    monkeypatch.setenv("HOME", str(folders.home))
    monkeypatch.setattr(tempfile, "tempdir", str(folders.tmp))
    monkeypatch.chdir(folders.cwd)
    return folders
