"""Fake bundles and a fake verification for the scheduler's tests: real
processes (one per bundle, started and killed like real jobs), no sandbox."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from challenge.bundle.verify import VerifyOptions
from challenge.cohort.documents import OUTCOMES, ResultDocument, grader_fingerprint
from challenge.cohort.selection import BundleFile
from tests.challenge.cohort.fake_job import payload_of

FAKE_JOB = Path(__file__).resolve().parent / "fake_job.py"


def fake_bundle(folder: Path, name: str, *, handle: str | None = None, exit_code: int = 0, sleep: float = 0.0,
                behaviour: str = "ok", hours: float = 2.0, predicted: float = 0.6, first_pass: bool = True,
                pid_folder: Path | None = None, code: str | None = None) -> Path:
    """A file the fake job reads as its instructions (its content is unique per name)."""
    spec = {"name": name, "handle": handle or name, "exit_code": exit_code, "sleep": sleep, "behaviour": behaviour,
            "hours": hours, "predicted": predicted, "first_pass": first_pass,
            "pid_folder": str(pid_folder) if pid_folder else None}
    if code is not None:
        spec["code"] = code
    path = Path(folder) / f"{name}.challenge.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(spec))
    return path


def fake_command(bundle: BundleFile, payload: Path, options: VerifyOptions) -> list[str]:
    import os

    return [sys.executable, str(FAKE_JOB), str(bundle.path), str(payload), str(os.getpid())]


class RecordingObserver:
    """An observer that remembers what the scheduler did."""

    def __init__(self):
        self.started_names: list[str] = []
        self.finished_names: list[str] = []
        self.skipped_names: list[str] = []

    def planned(self, *, todo, skipped) -> None:
        self.skipped_names = sorted(Path(r.bundle.path).name for r in skipped)

    def started(self, bundle) -> None:
        self.started_names.append(Path(bundle.path).name)

    def finished(self, row) -> None:
        self.finished_names.append(Path(row.bundle.path).name)


def document(registry, *, sha: str, handle: str | None = "ada", exit_code: int = 0, source: str | None = None,
             hours: float = 2.0, predicted: float = 0.6, first_pass: bool = True, verified_at: float | None = None,
             code: str | None = None, fingerprint=None) -> ResultDocument:
    """A results document as a run would write it, without running anything."""
    spec = {"handle": handle, "exit_code": exit_code, "hours": hours, "predicted": predicted,
            "first_pass": first_pass}
    if code is not None:
        spec["code"] = code
    payload = payload_of(spec) if exit_code != 4 else {
        "exit_code": 4, "reason": "the verification ended without a result (killed by signal 9)",
        "verification": None, "claims": None, "code": {}}
    return ResultDocument(bundle_sha256=sha, source=source or f"bundles/{handle}.challenge.zip",
                          fingerprint=fingerprint or grader_fingerprint(registry), outcome=OUTCOMES[exit_code],
                          verified_at=verified_at if verified_at is not None else time.time(), duration_s=1.0,
                          **payload)
