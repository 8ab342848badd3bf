"""`challenge cohort verify`: many bundles re-graded, N at a time, one process each.

The scheduler runs in the command's main thread and starts every job from it
(``challenge.cohort.job``: one process per bundle, each with its own sandboxed
workers), at most ``jobs`` at once, so memory stays bounded by ``jobs`` times
one verification. It polls them, kills one that overruns ``timeout_s``, and
turns each job's payload into the bundle's results document, written
atomically (``challenge.cohort.documents``).

The output folder is held with a lock file (``.lock``) for the whole run: a
second run on the same folder is refused at once. Jobs work in ``.jobs/``
inside it (payload, log, and the job's TMPDIR, so that the extraction and
sandbox folders of a killed job are removed by the next run too).

Resuming: a bundle whose document is current (same bundle sha256, same grader
fingerprint, a final outcome) is skipped. A run killed halfway has written a
whole document for every bundle it finished and none for the others; its
jobs die with it (``PR_SET_PDEATHSIG``) and their sandboxes with them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from challenge.bundle.errors import IsolationUnavailable
from challenge.bundle.verify import VerifyOptions, isolation_problem
from challenge.cohort.documents import (
    OUTCOMES, Fingerprint, ResultDocument, current_document, grader_fingerprint, write_document,
)
from challenge.cohort.job import failure_payload
from challenge.cohort.selection import BundleFile, Shard, list_bundles, take_shard
from challenge.errors import ChallengeError
from milestones import Registry

LOCK_NAME = ".lock"
JOBS_DIR = ".jobs"
POLL_S = 0.2
LOG_TAIL = 400  # characters of a failed job's log quoted in its reason


class FolderBusy(ChallengeError):
    def __init__(self, folder: Path):
        super().__init__(f"Another `challenge cohort verify` is writing to {folder}.",
                         "Wait for it to finish, or give this run its own --output folder (merge them afterwards "
                         "with `challenge cohort merge`).")


class RunStopped(ChallengeError):
    exit_code = 130

    def __init__(self, done: int, total: int):
        super().__init__(f"Stopped: {done} of {total} bundles have their results document.",
                         "Run the same command again to resume: what is done is not done again.")


@dataclass(frozen=True)
class Row:
    bundle: BundleFile
    document: ResultDocument
    skipped: bool = False  # already verified by the same grader fingerprint


@dataclass
class RunSummary:
    output: Path
    given: int  # distinct bundles given
    shard: Shard | None
    rows: list[Row] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return sum(1 for r in self.rows if r.skipped)

    @property
    def exit_code(self) -> int:
        """The most serious outcome: 0 all verified, 1 a claim did not verify, 2 a bundle is invalid,
        3 refused (no isolation), 4 a verification failed (crashed or timed out)."""
        return max((r.document.exit_code for r in self.rows), default=0)

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.rows if r.document.outcome == outcome)


class Observer(Protocol):
    def planned(self, *, todo: int, skipped: Sequence[Row]) -> None: ...

    def started(self, bundle: BundleFile) -> None: ...

    def finished(self, row: Row) -> None: ...


class Silent:
    def planned(self, *, todo: int, skipped: Sequence[Row]) -> None:
        pass

    def started(self, bundle: BundleFile) -> None:
        pass

    def finished(self, row: Row) -> None:
        pass


JobCommand = Callable[[BundleFile, Path, VerifyOptions], list[str]]


def job_command(bundle: BundleFile, payload: Path, options: VerifyOptions) -> list[str]:
    """The command line of one job (tests substitute a fake verification here)."""
    argv = [sys.executable, "-m", "challenge.cohort.job", "--bundle", str(Path(bundle.path).absolute()),
            "--payload", str(payload), "--parent-pid", str(os.getpid())]
    if options.retrain:
        argv.append("--retrain")
    if options.allow_unisolated:
        argv.append("--allow-unisolated")
    if options.seed is not None:
        argv += ["--seed", str(options.seed)]
    return argv


def verify_cohort(*, sources: Sequence[Path], output: Path, registry: Registry, jobs: int = 1,
                  shard: Shard | None = None, options: VerifyOptions = VerifyOptions(), timeout_s: float = 3600,
                  observer: Observer | None = None, command: JobCommand | None = None,
                  isolation: Callable[[], str | None] | None = None, retry_timeouts: bool = False) -> RunSummary:
    """Verify the shard's bundles into ``output``, ``jobs`` at a time, skipping those already done.

    ``command`` makes a job's command line (default ``job_command``), ``isolation`` says why this machine
    cannot sandbox (default ``isolation_problem``): the tests put a fake verification in both places. A bundle
    that timed out is recorded as such and not verified again unless ``retry_timeouts``.
    """
    from filelock import FileLock, Timeout

    observer, command, isolation = observer or Silent(), command or job_command, isolation or isolation_problem
    bundles = list_bundles(sources)
    mine = take_shard(bundles, shard)
    fingerprint = grader_fingerprint(registry, options)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(output=output, given=len(bundles), shard=shard)
    lock = FileLock(str(output / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise FolderBusy(output) from None
    try:
        _clean(output)
        todo = []
        for bundle in mine:
            document = current_document(output, bundle.sha256, fingerprint, retry_timeouts=retry_timeouts)
            if document is None:
                todo.append(bundle)
            else:
                summary.rows.append(Row(bundle, document, skipped=True))
        observer.planned(todo=len(todo), skipped=list(summary.rows))
        if todo and not options.allow_unisolated and (reason := isolation()) is not None:
            raise IsolationUnavailable(reason)
        _Pool(output=output, jobs=max(1, jobs), fingerprint=fingerprint, options=options, timeout_s=timeout_s,
              command=command, observer=observer, summary=summary).run(todo)
    finally:
        _clean(output)
        lock.release()
    summary.rows.sort(key=lambda r: r.bundle.sha256)
    return summary


def _clean(output: Path) -> None:
    """Remove what a killed run may have left: job folders and temp files of unfinished writes."""
    shutil.rmtree(output / JOBS_DIR, ignore_errors=True)
    for stale in output.glob(".*.json.*.tmp"):  # ``write_atomic``'s temp files of documents, nothing else
        stale.unlink(missing_ok=True)


@dataclass
class _Job:
    bundle: BundleFile
    process: subprocess.Popen
    folder: Path
    started: float
    log: Any  # the open log file


@dataclass
class _Pool:
    output: Path
    jobs: int
    fingerprint: Fingerprint
    options: VerifyOptions
    timeout_s: float
    command: JobCommand
    observer: Observer
    summary: RunSummary

    def run(self, todo: list[BundleFile]) -> None:
        waiting, running = list(todo), []
        total = len(self.summary.rows) + len(todo)
        in_main = threading.current_thread() is threading.main_thread()
        # a cancelled CI job or scancel sends SIGTERM: stop as cleanly as on Ctrl-C
        previous = signal.signal(signal.SIGTERM, _stop) if in_main else None
        try:
            while waiting or running:
                while waiting and len(running) < self.jobs:
                    running.append(self._start(waiting.pop(0)))
                time.sleep(POLL_S)
                for job in list(running):
                    overdue = time.monotonic() - job.started > self.timeout_s
                    if job.process.poll() is None and not overdue:
                        continue
                    if overdue and job.process.poll() is None:
                        job.process.kill()
                    job.process.wait()
                    running.remove(job)
                    self._finish(job, timed_out=overdue)
        except KeyboardInterrupt:
            for job in running:
                job.process.kill()  # its sandboxes die with it (--die-with-parent)
            for job in running:
                job.process.wait()
                job.log.close()
            raise RunStopped(len(self.summary.rows), total) from None
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)

    def _start(self, bundle: BundleFile) -> _Job:
        folder = self.output / JOBS_DIR / bundle.sha256[:16]
        (folder / "tmp").mkdir(parents=True, exist_ok=True)
        log = open(folder / "job.log", "wb")
        # Started from this (main) thread, which outlives every job: the job's death signal is tied to it.
        process = subprocess.Popen(self.command(bundle, folder / "payload.json", self.options),
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "TMPDIR": str(folder / "tmp")})
        self.observer.started(bundle)
        return _Job(bundle, process, folder, time.monotonic(), log)

    def _finish(self, job: _Job, *, timed_out: bool) -> None:
        job.log.close()
        payload = self._payload(job, timed_out=timed_out)
        try:
            document = ResultDocument(bundle_sha256=job.bundle.sha256, source=str(job.bundle.path),
                                      fingerprint=self.fingerprint, outcome=OUTCOMES[payload["exit_code"]],
                                      verified_at=time.time(), duration_s=round(time.monotonic() - job.started, 1),
                                      timed_out=timed_out, **payload)
        except Exception as error:  # noqa: BLE001 - a payload that does not fit: this bundle fails, the run goes on
            payload = failure_payload(f"the job's result does not fit the results document: {error}")
            document = ResultDocument(bundle_sha256=job.bundle.sha256, source=str(job.bundle.path),
                                      fingerprint=self.fingerprint, outcome="failed", verified_at=time.time(),
                                      duration_s=round(time.monotonic() - job.started, 1), **payload)
        write_document(self.output, document)
        shutil.rmtree(job.folder, ignore_errors=True)
        row = Row(job.bundle, document)
        self.summary.rows.append(row)
        self.observer.finished(row)

    def _payload(self, job: _Job, *, timed_out: bool) -> dict[str, Any]:
        from challenge.safe_json import UntrustedJSON, read_json_file

        if timed_out:
            return failure_payload(f"timed out after {self.timeout_s:g} s (--timeout); killed. Not verified again "
                                   "on a rerun unless --retry-timeouts")
        path = job.folder / "payload.json"
        if path.is_file():
            try:
                raw = read_json_file(path, max_bytes=64 * 1024 * 1024)
                if isinstance(raw, dict) and raw.get("exit_code") in OUTCOMES:
                    return raw
            except (OSError, UntrustedJSON):
                pass
        code = job.process.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        tail = _tail(job.folder / "job.log")
        return failure_payload(f"the verification ended without a result ({how})" + (f": {tail}" if tail else ""))


def _tail(path: Path) -> str:
    try:
        text = path.read_bytes()[-4096:].decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][-LOG_TAIL:] if lines else ""


def _stop(signum, frame) -> None:  # a signal handler: Ctrl-C and SIGTERM end the same way
    raise KeyboardInterrupt
