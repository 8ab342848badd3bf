"""`challenge dev new`: a scaffolded milestone loads and runs under dev check, always in a
temporary copy of the tree (never in this repository)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from challenge.dev.scaffold import new_milestone, next_number
from challenge.errors import UsageError
from milestones import load_registry
from milestones.mutants import read_catalogue

REPO = Path(__file__).resolve().parents[3]
REGISTRY = load_registry()


def _copy_tree(tmp_path: Path, *packages: str) -> Path:
    root = tmp_path / "tree"
    for package in packages:
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    return root


def _listing(root: Path) -> list[str]:
    """Every file and folder under ``root``, Python's bytecode caches left out: running the CLI from a
    copy writes them (as on any machine without PYTHONDONTWRITEBYTECODE), the command did not."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("kind", ["module", "training"])
def test_the_scaffold_is_a_milestone_the_registry_loads(tmp_path, kind):
    root = _copy_tree(tmp_path, "milestones")
    made = new_milestone(milestone_id="rope", kind=kind, milestones_root=root / "milestones",
                         hidden_root=tmp_path / "hidden", title="Rotary embeddings")
    number = len(REGISTRY.milestones) + 1
    assert made.milestone_dir == root / "milestones" / f"{number:02d}_rope"
    assert made.hidden_test == tmp_path / "hidden" / f"{number:02d}_rope" / "test_rope.py"
    assert {p.name for p in made.milestone_dir.iterdir()} == {"milestone.yaml", "README.md", "stub.py", "reference.py",
                                                              "mutants.yaml", "alternatives"}
    assert (made.milestone_dir / "alternatives").is_dir()
    registry = load_registry(root / "milestones")
    rope = registry.get("rope")
    assert (rope.number, rope.title, rope.kind, rope.learner_file) == (number, "Rotary embeddings", kind, "rope.py")
    assert "TODO(rope)" in (made.milestone_dir / "stub.py").read_text(encoding="utf-8")
    assert "TODO(rope)" not in (made.milestone_dir / "reference.py").read_text(encoding="utf-8")
    assert read_catalogue(made.milestone_dir).mutants == []
    for python in ("stub.py", "reference.py"):
        compile((made.milestone_dir / python).read_text(encoding="utf-8"), python, "exec")
    compile(made.hidden_test.read_text(encoding="utf-8"), made.hidden_test.name, "exec")
    assert "def test_" in made.hidden_test.read_text(encoding="utf-8")


@pytest.mark.parametrize("milestone_id, kind, title, problem", [
    ("Rope", "module", None, "is not a milestone id"),
    ("attention", "module", None, "exists already"),
    ("rope", "lecture", None, "--kind must be one of module, training"),
    ("rope", "module", 'a "quoted" title', "--title must be one line"),
])
def test_misuse_is_refused_and_nothing_is_written(tmp_path, milestone_id, kind, title, problem):
    root = _copy_tree(tmp_path, "milestones")
    before = _listing(tmp_path)
    with pytest.raises(UsageError, match=problem):
        new_milestone(milestone_id=milestone_id, kind=kind, title=title, milestones_root=root / "milestones",
                      hidden_root=tmp_path / "hidden")
    assert _listing(tmp_path) == before


def test_an_existing_hidden_test_folder_is_never_overwritten(tmp_path):
    root = _copy_tree(tmp_path, "milestones")
    taken = tmp_path / "hidden" / f"{next_number(root / 'milestones'):02d}_rope"
    taken.mkdir(parents=True)
    with pytest.raises(UsageError, match="exists already"):
        new_milestone(milestone_id="rope", kind="module", milestones_root=root / "milestones",
                      hidden_root=tmp_path / "hidden")
    assert not list((root / "milestones").glob("*_rope"))


def _challenge(root: Path, *args: str) -> subprocess.CompletedProcess:
    """The CLI run from a copy of the tree: ``python -m`` imports the copy's packages, not this repository's."""
    return subprocess.run([sys.executable, "-m", "challenge", *args], cwd=root, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.parametrize("kind", ["module", pytest.param("training", marks=pytest.mark.slow)])
def test_a_scaffolded_milestone_runs_under_dev_check(tmp_path, kind):
    root = _copy_tree(tmp_path, "challenge", "grader", "milestones")
    folder = f"{len(REGISTRY.milestones) + 1:02d}_scaled"
    made = _challenge(root, "dev", "new", "scaled", "--kind", kind)
    assert made.returncode == 0, made.stderr
    assert "created" in made.stdout and (root / "milestones" / folder / "stub.py").is_file()
    assert (root / "grader" / "hidden" / folder / "test_scaled.py").is_file()
    checked = _challenge(root, "dev", "check", "scaled", "--json")
    assert checked.returncode == 1, checked.stderr  # the catalogue is still empty
    items = {i["item"]: i for i in json.loads(checked.stdout)["items"]}
    assert items["stub"]["status"] == "ok" and items["stub"]["got"].startswith("fail")
    assert items["reference"]["status"] == "ok" and items["reference"]["got"].startswith("pass")
    failed = {name for name, item in items.items() if item["status"] == "fail"}
    assert failed == {"schema: mutants", "schema: alternatives"}
    assert items["schema: mutants"]["got"] == "0"
    assert not list(REGISTRY.root.glob("*_scaled")) and not (REPO / "grader" / "hidden" / folder).exists()


def test_an_installed_copy_without_its_source_tree_is_refused(tmp_path):
    root = _copy_tree(tmp_path, "challenge", "grader", "milestones")
    (root / "pyproject.toml").unlink()
    before = _listing(root)
    refused = _challenge(root, "dev", "new", "rope")
    assert refused.returncode == 2 and "not one" in refused.stderr and "pip install -e" in refused.stderr
    assert _listing(root) == before
