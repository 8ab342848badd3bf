"""`challenge submit`: gather a workspace into one bundle (see
``challenge.bundle.manifest`` for the layout) as a zip, or as a folder ready
to push as a GitHub repository (``--export-dir``).

No torch here: versions come from package metadata, the hidden-test hashes
from the results documents the claims were graded with.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import grader
from challenge import __version__
from challenge.bundle.manifest import (
    MANIFEST_NAME, README_NAME, REPORT_DIR, WORKSPACE_DIR, Manifest, ManifestBuilder, MilestoneEntry,
)
from challenge.errors import ChallengeError, LogCorrupted, LogLoss, UsageError
from challenge.record.eventlog import LogReading, read_log
from challenge.record.progress import MilestoneProgress, derive_progress
from challenge.feedback.results_document import read_results
from challenge.safe_json import read_json_file
from challenge.record.storage import fsync_dir
from challenge.training.checkpoints import CHECKPOINTS, LATEST, latest_checkpoint
from challenge.record.workspace import CONFIG_NAME, LOG_NAME, Workspace
from milestones import Milestone, Registry

SUFFIX = ".challenge.zip"


@dataclass(frozen=True)
class SubmitResult:
    zip_path: Path | None
    export_dir: Path | None
    manifest: Manifest
    passed: list[str]
    in_progress: list[str]
    warnings: list[str] = field(default_factory=list)


def bundle_name(handle: str, when: float) -> str:
    return f"{handle}-{time.strftime('%Y-%m-%d', time.localtime(when))}{SUFFIX}"


def submit(*, workspace: Workspace, registry: Registry, output: Path | None = None, export_dir: Path | None = None,
           cwd: Path | None = None, accept_log_loss: bool = False) -> SubmitResult:
    """Write the bundle: a zip (default, or ``output``) and/or an export folder.

    A log that lost events (cut off, deleted) is refused unless ``accept_log_loss``: then
    the loss is recorded in the log (``log_loss``), in the manifest and in the submit event.
    """
    reading = _intact_reading(workspace)
    if reading.losses and not accept_log_loss:
        raise LogLoss("Your event log lost events: " + "; ".join(reading.losses) + ". A bundle made from it would "
                      "not show the attempts, hints and time that were in them.",
                      "Restore events.jsonl from a backup, or submit anyway with --accept-log-loss: the loss is then "
                      "recorded in the bundle, and the receiver sees it.")
    progress = derive_progress(reading.events)
    started = [m for m in registry.milestones if progress.get(m.id, MilestoneProgress(m.id)).started]
    passed = [m.id for m in started if progress[m.id].passed]
    if not passed:
        raise ChallengeError("Nothing to submit: no milestone has passed yet.",
                             "Pass one first (challenge test attention); the bundle is evidence of what passed.")
    in_progress = [m.id for m in started if not progress[m.id].passed]
    zip_path = None
    if output is not None or export_dir is None:
        zip_path = _zip_target(output, workspace, cwd)
    if export_dir is not None and Path(export_dir).exists() and any(Path(export_dir).iterdir()):
        raise UsageError(f"{export_dir} exists and is not empty.", "Pick a new folder for --export-dir.")
    workspace.log.append("submit", data={"bundle": zip_path.name if zip_path else str(export_dir),
                                         "passed": passed, "in_progress": in_progress,
                                         **({"accepted_log_loss": True} if reading.losses else {})})
    warnings: list[str] = []
    builder = collect(workspace=workspace, milestones=started, warnings=warnings)
    manifest = _manifest(workspace, started, builder, warnings)
    _add_report(builder, workspace=workspace, registry=registry, now=manifest.created_at)
    manifest = _with_files(manifest, builder)
    if zip_path is not None:
        write_zip(builder.files, manifest, zip_path)
    if export_dir is not None:
        write_folder(builder.files, manifest, Path(export_dir))
    return SubmitResult(zip_path, Path(export_dir) if export_dir else None, manifest, passed, in_progress, warnings)


def _intact_reading(workspace: Workspace) -> LogReading:
    reading = workspace.log.read()
    if not reading.intact:
        detail = next(p for p in reading.problems if p.kind == "chain")
        raise LogCorrupted(f"Your event log's chain is broken (line {detail.line}: {detail.detail}); "
                           "a bundle made from it would be rejected as tampered.",
                           "Restore events.jsonl from a backup; the log must not be edited by hand.")
    return reading


def _zip_target(output: Path | None, workspace: Workspace, cwd: Path | None) -> Path:
    name = bundle_name(workspace.handle, workspace.clock())
    target = Path(output) if output is not None else Path(cwd or Path.cwd()) / name
    if target.is_dir():
        target = target / name
    if not target.parent.is_dir():
        raise UsageError(f"The folder {target.parent} does not exist.", "Create it, or pass another --output.")
    return target


def collect(*, workspace: Workspace, milestones: list[Milestone], warnings: list[str]) -> ManifestBuilder:
    """The workspace's files that belong in the bundle (no caches, no instructions, no lock files)."""
    builder = ManifestBuilder()
    root = workspace.root
    for name in (CONFIG_NAME, LOG_NAME):
        builder.add(f"{WORKSPACE_DIR}/{name}", (root / name).read_bytes())
    for milestone in milestones:
        folder = root / milestone.folder
        learner = folder / milestone.learner_file
        if learner.is_file():
            builder.add(_inside(root, learner), learner.read_bytes())
        else:
            warnings.append(f"{milestone.id}: {learner.name} is missing; the bundle has no code for it")
        for path in sorted((folder / "results").glob("*.json")):
            if _plain_file(path):
                builder.add(_inside(root, path), path.read_bytes())
        checkpoint = latest_checkpoint(folder) if milestone.training is not None else None
        if checkpoint is not None:
            builder.add(_inside(root, folder / CHECKPOINTS / LATEST), (folder / CHECKPOINTS / LATEST).read_bytes())
            for path in sorted(checkpoint.iterdir()):
                if _plain_file(path):
                    builder.add(_inside(root, path), path.read_bytes())
        elif milestone.training is not None:
            warnings.append(f"{milestone.id}: no trained checkpoint; verify cannot evaluate it without --retrain")
    return builder


def _plain_file(path: Path) -> bool:
    return stat.S_ISREG(path.lstat().st_mode)


def _inside(root: Path, path: Path) -> str:
    return f"{WORKSPACE_DIR}/{path.relative_to(root).as_posix()}"


def _latest_results(workspace: Workspace, progress: MilestoneProgress) -> dict:
    for attempt in reversed(progress.attempts):
        if attempt.results_file:
            try:
                return read_results(workspace.root / attempt.results_file)
            except (OSError, ValueError):  # UntrustedJSON is a ValueError
                continue
    return {}


def _manifest(workspace: Workspace, milestones: list[Milestone], builder: ManifestBuilder,
              warnings: list[str]) -> Manifest:
    reading = read_log(workspace.root / LOG_NAME)
    progress = derive_progress(reading.events)
    entries, devices = [], set()
    for milestone in milestones:
        latest = _latest_results(workspace, progress[milestone.id])
        if latest.get("device"):
            devices.add(str(latest["device"]))
        learner = f"{WORKSPACE_DIR}/{milestone.folder}/{milestone.learner_file}"
        checkpoint = latest_checkpoint(workspace.root / milestone.folder) if milestone.training else None
        if checkpoint is not None:
            devices.add(str(_json(checkpoint / "config.json").get("device", "cpu")))
        entries.append(MilestoneEntry(
            id=milestone.id, folder=milestone.folder, learner_file=learner if learner in builder.files else "",
            grader_version=str(latest.get("grader_version", "")),
            hidden_tests_sha256=str(latest.get("hidden_tests_sha256", "")),
            checkpoint=_inside(workspace.root, checkpoint) if checkpoint is not None else None))
    return Manifest(handle=workspace.handle, created_at=workspace.clock(), harness_version=__version__,
                    grader_version=grader.GRADER_VERSION, environment=environment(sorted(devices) or ["cpu"]),
                    event_log={"path": f"{WORKSPACE_DIR}/{LOG_NAME}", "events": reading.count,
                               "head": reading.head, "losses": reading.losses},
                    milestones=entries, files={})


def _json(path: Path) -> dict:
    try:
        loaded = read_json_file(path, max_bytes=1 << 20)
        return loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError):
        return {}


def environment(devices: list[str]) -> dict:
    """Where the work was done, without importing torch."""
    try:
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        torch_version = None
    return {"python": platform.python_version(), "torch": torch_version, "os": platform.platform(),
            "machine": platform.machine(), "cpus": os.cpu_count(), "devices": devices}


def _add_report(builder: ManifestBuilder, *, workspace: Workspace, registry: Registry, now: float) -> None:
    from challenge.report import build_report
    from challenge.report.plots import make_plots
    from challenge.report.render_html import render_html
    from challenge.report.render_json import render_json
    from challenge.report.render_markdown import render_markdown

    report = build_report(workspace_root=workspace.root, registry=registry, now=now)
    plots = make_plots(report)
    for plot in plots:
        builder.add(f"{REPORT_DIR}/{plot.key}.png", plot.png)
    builder.add(f"{REPORT_DIR}/report.md",
                render_markdown(report, images=[(p.title, f"{p.key}.png") for p in plots]).encode("utf-8"))
    builder.add(f"{REPORT_DIR}/report.html", render_html(report, plots=plots).encode("utf-8"))
    builder.add(f"{REPORT_DIR}/report.json", render_json(report).encode("utf-8"))
    builder.add(README_NAME, render_markdown(report, images=[(p.title, f"{REPORT_DIR}/{p.key}.png")
                                                             for p in plots]).encode("utf-8"))


def _with_files(manifest: Manifest, builder: ManifestBuilder) -> Manifest:
    return manifest.model_copy(update={"files": builder.entries()})


def _manifest_bytes(manifest: Manifest) -> bytes:
    return (json.dumps(manifest.to_dict(), indent=2) + "\n").encode("utf-8")


def write_zip(files: dict[str, bytes], manifest: Manifest, path: Path) -> None:
    """Write the zip next to ``path`` and rename it into place (never a half-written bundle)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
            for name, data in [(MANIFEST_NAME, _manifest_bytes(manifest)), *sorted(files.items())]:
                info = zipfile.ZipInfo(name, date_time=time.gmtime(manifest.created_at)[:6])
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_folder(files: dict[str, bytes], manifest: Manifest, folder: Path) -> None:
    """The same content as a folder: push it as a repository, its README is the report."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in [(MANIFEST_NAME, _manifest_bytes(manifest)), *sorted(files.items())]:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
