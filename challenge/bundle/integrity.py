"""Is the bundle what `submit` wrote? Checks that run no learner code, in order:

1. archive      safe extraction (see ``challenge.bundle.extract``)
2. manifest     present, JSON within the size and depth limits, the strict manifest model
3. listing      every file is in the manifest and every listed file is there
4. hash         size and sha256 of every file match the manifest
5. document     workspace.json and every results document match their strict models
6. event log    every line is a well-typed event, the hash chain is intact and ends where it ended at submit
7. consistency  the handle and the milestones' files agree with the manifest

Each failure is a ``Problem`` naming the check and the file. ``open_bundle``
extracts into a private temporary folder and removes it afterwards. A torn log
line (a crash while writing) and events lost before submit (accepted by the
learner with ``submit --accept-log-loss``) are warnings: the receiver is told.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from challenge.bundle.errors import BundleInvalid, Problem
from challenge.bundle.extract import Limits, extract_bundle
from challenge.bundle.manifest import MANIFEST_NAME, WORKSPACE_DIR, Manifest, ManifestError, sha256_bytes
from challenge.record.eventlog import LogReading, read_log
from challenge.feedback.results_document import read_results
from challenge.safe_json import UntrustedJSON, read_json_file
from challenge.record.workspace import CONFIG_NAME, LOG_NAME, read_config

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
LOG_PATH = f"{WORKSPACE_DIR}/{LOG_NAME}"
CONFIG_PATH = f"{WORKSPACE_DIR}/{CONFIG_NAME}"


@dataclass
class OpenedBundle:
    """An extracted bundle and what the checks found. Nothing in it has run."""

    source: Path
    root: Path  # the private extraction folder
    manifest: Manifest | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log: LogReading | None = None

    @property
    def workspace(self) -> Path:
        return self.root / WORKSPACE_DIR

    @property
    def valid(self) -> bool:
        return not self.problems

    def require_valid(self) -> Manifest:
        if self.problems or self.manifest is None:
            raise BundleInvalid(self.problems or [Problem("manifest", MANIFEST_NAME, "missing")])
        return self.manifest


@contextlib.contextmanager
def open_bundle(source: Path, *, limits: Limits = Limits()) -> Iterator[OpenedBundle]:
    """Extract ``source`` into a private temporary folder, check it, and clean up afterwards."""
    root = Path(tempfile.mkdtemp(prefix="challenge-bundle-"))
    opened = OpenedBundle(source=Path(source), root=root)
    try:
        try:
            names = extract_bundle(Path(source), root / "content", limits=limits)
        except BundleInvalid as invalid:
            opened.problems.extend(invalid.problems)
        else:
            opened.root = root / "content"
            check_integrity(opened, names)
        yield opened
    finally:
        shutil.rmtree(root, ignore_errors=True)


def check_integrity(opened: OpenedBundle, names: list[str]) -> None:
    """Run checks 2-6 on an extracted bundle, recording problems and warnings on ``opened``."""
    manifest = _read_manifest(opened.root, names, opened.problems)
    if manifest is None:
        return
    opened.manifest = manifest
    present = set(names) - {MANIFEST_NAME}
    listed = set(manifest.files)
    for name in sorted(present - listed):
        opened.problems.append(Problem("listing", name, "not in the manifest (added after submit)"))
    for name in sorted(listed - present):
        opened.problems.append(Problem("listing", name, "listed in the manifest but missing (removed after submit)"))
    for name in sorted(present & listed):
        data = (opened.root / name).read_bytes()
        entry = manifest.files[name]
        if len(data) != entry.size or sha256_bytes(data) != entry.sha256:
            opened.problems.append(Problem("hash", name, "sha256 differs from the manifest (changed after submit)"))
    for required in (CONFIG_PATH, LOG_PATH):
        if required not in present:
            opened.problems.append(Problem("consistency", required, "required file missing from the bundle"))
    if opened.problems:
        return
    _check_documents(opened, sorted(present))
    if opened.problems:
        return
    _check_log(opened, manifest)
    _check_consistency(opened, manifest)


def _read_manifest(root: Path, names: list[str], problems: list[Problem]) -> Manifest | None:
    if MANIFEST_NAME not in names:
        problems.append(Problem("manifest", MANIFEST_NAME, "missing: this is not a challenge bundle"))
        return None
    try:
        return Manifest.from_dict(read_json_file(root / MANIFEST_NAME, max_bytes=MAX_MANIFEST_BYTES))
    except (UntrustedJSON, ManifestError) as error:
        problems.append(Problem("manifest", MANIFEST_NAME, str(error)))
        return None


def _check_documents(opened: OpenedBundle, names: list[str]) -> None:
    """workspace.json and every results document, against their strict models (nothing else reads them unchecked)."""
    try:
        read_config(opened.root / CONFIG_PATH)
    except (OSError, UntrustedJSON) as error:
        opened.problems.append(Problem("document", CONFIG_PATH, str(error)))
    for name in names:
        parts = name.split("/")
        if len(parts) == 4 and parts[0] == WORKSPACE_DIR and parts[2] == "results" and name.endswith(".json"):
            try:
                read_results(opened.root / name)
            except (OSError, UntrustedJSON) as error:
                opened.problems.append(Problem("document", name, f"not a results document: {error}"))


def _check_log(opened: OpenedBundle, manifest: Manifest) -> None:
    reading = read_log(opened.root / LOG_PATH)
    opened.log = reading
    for problem in reading.problems:
        if problem.kind in ("chain", "malformed", "unusable"):
            opened.problems.append(Problem("event log", LOG_PATH, f"line {problem.line}: {problem.detail}"))
        elif problem.kind == "torn":
            opened.warnings.append(f"{LOG_PATH} line {problem.line}: {problem.detail} (skipped)")
    if not reading.events:
        opened.problems.append(Problem("event log", LOG_PATH, "no events: nothing to verify"))
        return
    expected_head, expected_count = manifest.event_log.head, manifest.event_log.events
    if reading.intact and (reading.head != expected_head or reading.count != expected_count):
        opened.problems.append(Problem(
            "event log", LOG_PATH, f"ends at event {reading.count - 1} ({reading.count} events) but the "
                                   f"manifest recorded {expected_count} events: lines were removed or added"))
    for loss in reading.losses:
        opened.warnings.append(f"the learner's event log lost events before submit ({loss}); the time, attempts "
                               "and help in them are missing from this bundle")


def _check_consistency(opened: OpenedBundle, manifest: Manifest) -> None:
    handle = read_config(opened.root / CONFIG_PATH).handle  # checked by _check_documents
    if handle != manifest.handle:
        opened.problems.append(Problem("consistency", CONFIG_PATH,
                                       f"handle {handle!r} differs from the manifest's {manifest.handle!r}"))
    for entry in manifest.milestones:
        prefix = f"{WORKSPACE_DIR}/{entry.folder}/"
        for label, path in (("learner file", entry.learner_file), ("checkpoint", entry.checkpoint)):
            if not path:
                continue
            if not path.startswith(prefix) or not any(name.startswith(path) for name in manifest.files):
                opened.problems.append(Problem("consistency", MANIFEST_NAME,
                                               f"{entry.id}: {label} {path!r} is not a file of this milestone"))
    if opened.log is not None:
        for event in opened.log.events:
            name = event.data.get("results_file") if event.type == "test" else None
            if isinstance(name, str) and f"{WORKSPACE_DIR}/{name}" not in manifest.files:
                opened.warnings.append(f"the log's test {event.seq} points to {name}, which is not in the bundle")
