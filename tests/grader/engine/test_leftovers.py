"""No runtime folder outlives a killed judge: the next sandbox removes those whose owner has gone, and nothing else."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from grader.engine import leftovers

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


def _killed_judge_folder(tmp_path: Path) -> Path:
    """A judge that made its runtime folder and was killed with SIGKILL before it could remove it."""
    code = ("import os, signal; from grader.engine import world; print(world.make_runtime(), flush=True); "
            "os.kill(os.getpid(), signal.SIGKILL)")
    judge = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                           env=os.environ | {"TMPDIR": str(tmp_path)}, timeout=120)
    assert judge.returncode == -signal.SIGKILL
    folder = Path(judge.stdout.strip())
    assert folder.parent == tmp_path and (folder / "grader" / "worker").is_dir()
    return folder


def test_the_folder_of_a_killed_judge_is_removed_by_the_next_one(tmp_path):
    folder = _killed_judge_folder(tmp_path)
    scratch = folder.parent / (folder.name + "-scratch")  # the fallback's scratch folder, named after it
    (scratch / "tmp").mkdir(parents=True)
    assert sorted(leftovers.sweep(tmp_path)) == sorted([folder, scratch])
    assert list(tmp_path.iterdir()) == []


def test_live_owners_foreign_names_and_links_are_kept(tmp_path):
    mine = tmp_path / (leftovers.owner_prefix() + "abc")
    mine.mkdir()
    parent = tmp_path / (f"{leftovers.PREFIX}{leftovers._pid_namespace()}-{os.getppid()}-"
                         f"{leftovers.start_time(os.getppid())}-x")
    parent.mkdir()  # another live judge
    reused = tmp_path / (f"{leftovers.PREFIX}{leftovers._pid_namespace()}-{os.getppid()}-1-x")
    reused.mkdir()  # the same pid, another start time: its owner is gone, the pid was reused
    elsewhere = tmp_path / f"{leftovers.PREFIX}1-999999-1-x"
    elsewhere.mkdir()  # a judge of another PID namespace: its pid says nothing here
    other = tmp_path / "challenge-runtime-abc"
    other.mkdir()  # an old-style name: no owner recorded
    target = tmp_path / "precious"
    target.mkdir()
    (target / "file").write_text("keep")
    link = tmp_path / f"{leftovers.PREFIX}{leftovers._pid_namespace()}-999999-1-link"
    link.symlink_to(target)
    assert leftovers.sweep(tmp_path) == [reused]
    assert mine.is_dir() and parent.is_dir() and elsewhere.is_dir() and other.is_dir()
    assert (target / "file").read_text() == "keep" and link.is_symlink()
