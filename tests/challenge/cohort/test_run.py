"""The scheduler with a fake verification (real processes, no sandbox): one row
per bundle whatever happens to the others, atomic documents, resuming without
re-doing anything, the lock, and a run killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from filelock import FileLock

import grader
from challenge.bundle.errors import IsolationUnavailable
from challenge.bundle.verify import VerifyOptions
from challenge.cohort.documents import read_document, result_files
from challenge.cohort.run import JOBS_DIR, FolderBusy, verify_cohort
from challenge.cohort.selection import hash_bundle
from tests.challenge.cohort.fakes import RecordingObserver, fake_bundle, fake_command

REPO = Path(__file__).resolve().parents[3]


def _run(registry, bundles, output, **options):
    observer = RecordingObserver()
    summary = verify_cohort(sources=bundles, output=output, registry=registry, command=fake_command,
                            isolation=lambda: None, observer=observer, **options)
    return summary, observer


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_every_bundle_gets_its_own_row_and_the_exit_code_is_the_worst(tmp_path, registry):
    bundles = [fake_bundle(tmp_path / "in", "ok"), fake_bundle(tmp_path / "in", "forged", exit_code=1),
               fake_bundle(tmp_path / "in", "tampered", exit_code=2)]
    summary, _ = _run(registry, bundles, tmp_path / "out", jobs=2)
    outcomes = {Path(r.bundle.path).stem.split(".")[0]: (r.document.outcome, r.document.exit_code)
                for r in summary.rows}
    assert outcomes == {"ok": ("verified", 0), "forged": ("not verified", 1), "tampered": ("invalid", 2)}
    assert summary.exit_code == 2 and summary.skipped == 0
    tampered = next(r.document for r in summary.rows if r.document.exit_code == 2)
    assert "hash check failed" in tampered.reason and tampered.claims is None
    files = result_files(tmp_path / "out")
    assert sorted(p.stem for p in files) == sorted(hash_bundle(b) for b in bundles)
    for path in files:  # each one whole, with the fingerprint it was verified with
        document = read_document(path)
        assert document.fingerprint.grader_version == grader.GRADER_VERSION
        assert set(document.fingerprint.hidden_tests) >= {"attention", "multihead", "block"}
    assert not (tmp_path / "out" / JOBS_DIR).exists()
    summary, _ = _run(registry, bundles[:1], tmp_path / "only-ok")
    assert summary.exit_code == 0  # and all verified: exit 0


class _CountingObserver(RecordingObserver):
    """Counts the jobs running at each start: the scheduler's bound, without timing."""

    def __init__(self):
        super().__init__()
        self.running = self.most_running = 0

    def started(self, bundle) -> None:
        super().started(bundle)
        self.running += 1
        self.most_running = max(self.most_running, self.running)

    def finished(self, row) -> None:
        super().finished(row)
        self.running -= 1


@pytest.mark.parametrize("jobs", [1, 2, 3])
def test_at_most_jobs_run_at_once_and_that_many_do(tmp_path, registry, jobs):
    bundles = [fake_bundle(tmp_path / "in", f"b{i}", sleep=0.3) for i in range(5)]
    observer = _CountingObserver()
    summary = verify_cohort(sources=bundles, output=tmp_path / "out", registry=registry, command=fake_command,
                            isolation=lambda: None, observer=observer, jobs=jobs)
    assert observer.most_running == jobs  # never more (memory stays bounded), and the cores are used
    assert summary.count("verified") == 5 and len(observer.started_names) == 5


def test_a_crashing_job_is_one_failed_row_and_the_rest_go_on(tmp_path, registry):
    bundles = [fake_bundle(tmp_path / "in", "crash", behaviour="crash"),
               *[fake_bundle(tmp_path / "in", f"ok{i}", sleep=0.2) for i in range(3)]]
    summary, observer = _run(registry, bundles, tmp_path / "out", jobs=2)
    crashed = next(r.document for r in summary.rows if r.document.exit_code == 4)
    assert crashed.outcome == "failed" and "exit status 3" in crashed.reason and "boom" in crashed.reason
    assert summary.count("verified") == 3 and summary.exit_code == 4
    assert len(observer.finished_names) == 4


def test_a_hung_job_is_killed_at_the_timeout(tmp_path, registry):
    pids = tmp_path / "pids"
    pids.mkdir()
    bundles = [fake_bundle(tmp_path / "in", "hang", behaviour="hang", pid_folder=pids),
               fake_bundle(tmp_path / "in", "ok")]
    started = time.monotonic()
    summary, _ = _run(registry, bundles, tmp_path / "out", jobs=2, timeout_s=8)
    assert time.monotonic() - started < 60
    hung = next(r.document for r in summary.rows if r.document.exit_code == 4)
    assert "timed out after 8 s" in hung.reason and summary.count("verified") == 1
    [pid] = [int(p.stem) for p in pids.iterdir()]
    assert not _alive(pid)


def test_a_timeout_is_a_result_a_rerun_does_not_pay_again_unless_asked(tmp_path, registry):
    bundles = [fake_bundle(tmp_path / "in", "hang", behaviour="hang"), fake_bundle(tmp_path / "in", "ok")]
    first, _ = _run(registry, bundles, tmp_path / "out", timeout_s=3)
    hung = next(r.document for r in first.rows if r.document.exit_code == 4)
    assert hung.timed_out and "--retry-timeouts" in hung.reason
    again, observer = _run(registry, bundles, tmp_path / "out", timeout_s=3)
    assert observer.started_names == [] and again.skipped == 2 and again.exit_code == 4  # still reported
    _, observer = _run(registry, bundles, tmp_path / "out", timeout_s=3, retry_timeouts=True)
    assert len(observer.started_names) == 1  # the timed-out one only: the verified one stays done


def test_a_second_run_skips_what_is_done_and_redoes_nothing(tmp_path, registry):
    bundles = [fake_bundle(tmp_path / "in", f"b{i}") for i in range(3)]
    first, _ = _run(registry, bundles, tmp_path / "out", jobs=2)
    written = {p.name: p.stat().st_mtime_ns for p in result_files(tmp_path / "out")}
    again, observer = _run(registry, bundles, tmp_path / "out", jobs=2)
    assert observer.started_names == [] and again.skipped == 3 and again.exit_code == first.exit_code
    assert {p.name: p.stat().st_mtime_ns for p in result_files(tmp_path / "out")} == written
    new = fake_bundle(tmp_path / "in", "late")
    _, observer = _run(registry, [*bundles, new], tmp_path / "out")
    assert observer.started_names == ["late.challenge.zip"] and len(observer.skipped_names) == 3


def test_failed_and_refused_bundles_are_tried_again(tmp_path, registry):
    bundle = fake_bundle(tmp_path / "in", "crash", behaviour="crash")
    _run(registry, [bundle], tmp_path / "out")
    _, observer = _run(registry, [bundle], tmp_path / "out")
    assert observer.started_names == ["crash.challenge.zip"]  # 'failed' is not final


def test_another_grader_or_other_options_verify_again(tmp_path, registry, monkeypatch):
    bundles = [fake_bundle(tmp_path / "in", f"b{i}") for i in range(2)]
    _run(registry, bundles, tmp_path / "out")
    _, observer = _run(registry, bundles, tmp_path / "out", options=VerifyOptions(retrain=True))
    assert len(observer.started_names) == 2
    monkeypatch.setattr(grader, "GRADER_VERSION", "9.9.9")
    _, observer = _run(registry, bundles, tmp_path / "out", options=VerifyOptions(retrain=True))
    assert len(observer.started_names) == 2
    assert {read_document(p).fingerprint.grader_version for p in result_files(tmp_path / "out")} == {"9.9.9"}


def test_other_hidden_tests_verify_again(tmp_path, registry, monkeypatch):
    import grader.fingerprint

    bundles = [fake_bundle(tmp_path / "in", "b")]
    _run(registry, bundles, tmp_path / "out")
    real = grader.fingerprint.hidden_tests_sha256
    monkeypatch.setattr(grader.fingerprint, "hidden_tests_sha256",
                        lambda folder: "f" * 64 if folder.name == "02_multihead" else real(folder))
    _, observer = _run(registry, bundles, tmp_path / "out")
    assert observer.started_names == ["b.challenge.zip"]


def test_a_damaged_document_is_verified_again(tmp_path, registry):
    bundles = [fake_bundle(tmp_path / "in", f"b{i}") for i in range(2)]
    _run(registry, bundles, tmp_path / "out")
    damaged = tmp_path / "out" / f"{hash_bundle(bundles[0])}.json"
    damaged.write_text('{"schema": "challenge-cohort-result", "version": 1, "bundle_sha')
    _, observer = _run(registry, bundles, tmp_path / "out")
    assert observer.started_names == ["b0.challenge.zip"]
    assert read_document(damaged).outcome == "verified"


def test_two_runs_cannot_write_one_folder(tmp_path, registry):
    output = tmp_path / "out"
    output.mkdir()
    with FileLock(str(output / ".lock")):
        with pytest.raises(FolderBusy, match="Another `challenge cohort verify` is writing"):
            _run(registry, [fake_bundle(tmp_path / "in", "b")], output)
    summary, _ = _run(registry, [fake_bundle(tmp_path / "in", "b")], output)  # free again
    assert summary.count("verified") == 1


def test_no_isolation_refuses_before_any_job_unless_all_are_done(tmp_path, registry):
    bundles = [fake_bundle(tmp_path / "in", "b")]
    observer = RecordingObserver()
    with pytest.raises(IsolationUnavailable):
        verify_cohort(sources=bundles, output=tmp_path / "out", registry=registry, command=fake_command,
                      isolation=lambda: "no user namespaces", observer=observer)
    assert observer.started_names == [] and not result_files(tmp_path / "out")
    _run(registry, bundles, tmp_path / "out")
    summary = verify_cohort(sources=bundles, output=tmp_path / "out", registry=registry, command=fake_command,
                            isolation=lambda: "no user namespaces")
    assert summary.skipped == 1  # nothing to run: nothing refused


DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    sys.path.insert(0, {repo!r})
    from challenge.cohort.run import verify_cohort
    from milestones import load_registry
    from tests.challenge.cohort.fakes import fake_command
    bundles = sorted(Path({bundles!r}).glob("*.zip"))
    verify_cohort(sources=bundles, output=Path({output!r}), registry=load_registry(), jobs=2,
                  command=fake_command, isolation=lambda: None)
""")


def test_a_killed_run_leaves_whole_documents_and_resumes_where_it_stopped(tmp_path, registry):
    pids = tmp_path / "pids"
    pids.mkdir()
    for index in range(8):
        fake_bundle(tmp_path / "in", f"b{index}", sleep=0.6, pid_folder=pids)
    output = tmp_path / "out"
    script = DRIVER.format(repo=str(REPO), bundles=str(tmp_path / "in"), output=str(output))
    run = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 120
    while len(result_files(output) if output.is_dir() else []) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    time.sleep(1.0)
    started = [int(p.stem) for p in pids.iterdir()]
    assert started and not [pid for pid in started if _alive(pid)], "every job dies with the run"
    at_kill = {p.name: p.stat().st_mtime_ns for p in result_files(output)}
    assert 3 <= len(at_kill) < 8
    for path in result_files(output):
        assert json.loads(path.read_text())["outcome"] == "verified"  # whole documents only
    summary, observer = _run(registry, sorted((tmp_path / "in").glob("*.zip")), output, jobs=2)
    assert summary.skipped == len(at_kill) and len(observer.started_names) == 8 - len(at_kill)
    assert len(result_files(output)) == 8 and summary.count("verified") == 8
    assert all((output / name).stat().st_mtime_ns == mtime for name, mtime in at_kill.items())
    assert not (output / JOBS_DIR).exists() and not list(output.glob(".*.tmp"))


def test_a_half_written_document_is_never_read_and_is_cleaned_up(tmp_path, registry):
    """What a write killed before its rename leaves: a temp file, never a document."""
    from challenge.cohort.merge import merge_results

    bundles = [fake_bundle(tmp_path / "in", "b")]
    _run(registry, bundles, tmp_path / "out")
    sha = hash_bundle(bundles[0])
    torn = tmp_path / "out" / f".{'a' * 64}.json.x1y2.tmp"
    torn.write_text('{"schema": "challenge-cohort-result", "bundle_sha')
    keep = tmp_path / "out" / "notes.tmp"  # not ours: left alone
    keep.write_text("mine")
    assert len(merge_results(folders=[tmp_path / "out"], registry=registry).rows) == 1
    _, observer = _run(registry, bundles, tmp_path / "out")
    assert observer.skipped_names == ["b.challenge.zip"] and not torn.exists() and keep.exists()
    assert [p.stem for p in result_files(tmp_path / "out")] == [sha]
