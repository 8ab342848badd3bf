"""Building and tampering with bundles for the tests: fake passes without
grading, and zip rewriting that can re-sign the manifest the way a forger would."""

from __future__ import annotations

import hashlib
import json
import shutil
import stat
import time
import zipfile
from pathlib import Path

from challenge.record.eventlog import GENESIS, LOG_VERSION, chain_hash
from challenge.record.workspace import Workspace
from milestones import Registry

REPO = Path(__file__).resolve().parents[3]
HOSTILE = Path(__file__).resolve().parent / "hostile"
LOG = "workspace/events.jsonl"


def reference_source(folder: str = "01_attention") -> str:
    return (REPO / "milestones" / folder / "reference.py").read_text(encoding="utf-8")


def hostile_source(name: str, **values: str) -> str:
    """The reference solution with an attack appended; ``@@KEY@@`` placeholders filled in."""
    attack = (HOSTILE / f"{name}.py").read_text(encoding="utf-8")
    for key, value in values.items():
        attack = attack.replace(f"@@{key}@@", value)
    assert "@@" not in attack, f"unfilled placeholder in {name}.py"
    return reference_source() + "\n\n" + attack


def fake_pass(workspace: Workspace, registry: Registry, milestone_id: str, *, source: str | None = None,
              status: str = "pass") -> None:
    """Start a milestone and log a test with ``status`` without grading (cheap; verify re-grades anyway)."""
    from challenge.record.bookkeeping import start_milestone

    milestone = registry.get(milestone_id)
    start_milestone(workspace=workspace, registry=registry, milestone=milestone, predict_hours=1.0, predict_pass=0.6)
    learner = workspace.milestone_dir(milestone.folder) / milestone.learner_file
    if source is not None:
        learner.write_text(source, encoding="utf-8")
    document = {"schema": "challenge-results", "version": 1, "milestone": milestone.id, "status": status,
                "tests": [{"name": "everything", "status": status}], "grader_version": "0.1.0",
                "hidden_tests_sha256": "0" * 64, "device": "cpu", "seed": 1, "started_at": time.time(),
                "learner_file_sha256": hashlib.sha256(learner.read_bytes()).hexdigest()}
    results = workspace.results_dir(milestone.folder) / f"fake-{status}.json"
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps(document), encoding="utf-8")
    workspace.log.append("test", milestone=milestone.id, data={
        "status": status, "passed": 1 if status == "pass" else 0, "total": 1, "builtins_used": [],
        "results_file": str(results.relative_to(workspace.root))})


def read_entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as bundle:
        return {info.filename: bundle.read(info) for info in bundle.infolist()}


def write_entries(path: Path, entries: dict[str, bytes] | list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for name, data in items:
            if isinstance(name, str):
                name = zipfile.ZipInfo(name, date_time=(2030, 1, 1, 0, 0, 0))
                name.external_attr = (stat.S_IFREG | 0o644) << 16
                name.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(name, data)
    return path


def resign(entries: dict[str, bytes]) -> dict[str, bytes]:
    """What a forger does: recompute every hash and the log's head in the manifest."""
    manifest = json.loads(entries["manifest.json"])
    manifest["files"] = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                         for name, data in entries.items() if name != "manifest.json" and not name.endswith("/")}
    lines = [json.loads(line) for line in entries[LOG].splitlines() if line.strip()]
    manifest["event_log"].update(events=len(lines), head=lines[-1]["hash"] if lines else GENESIS)
    return {**entries, "manifest.json": json.dumps(manifest, indent=2).encode()}


def rewrite(source: Path, target: Path, changes: dict[str, bytes | None], *, sign: bool = True) -> Path:
    """Copy a bundle with some entries replaced (bytes), added, or removed (None); re-signed unless ``sign=False``."""
    entries = read_entries(source)
    for name, data in changes.items():
        if data is None:
            entries.pop(name, None)
        else:
            entries[name] = data
    return write_entries(target, resign(entries) if sign else entries)


def forged_event(log: bytes, type: str, milestone: str | None, data: dict) -> bytes:
    """Append a correctly chained event: the chain proves order, not honesty."""
    last = json.loads([line for line in log.splitlines() if line.strip()][-1])
    body = {"v": LOG_VERSION, "seq": last["seq"] + 1, "ts": last["ts"] + 60, "type": type, "milestone": milestone,
            "data": data, "prev": last["hash"]}
    line = dict(body, hash=chain_hash(last["hash"], body))
    return log + json.dumps(line, sort_keys=True, separators=(",", ":")).encode() + b"\n"


def snapshot(folder: Path) -> dict[str, tuple[int, float]]:
    """Every file under ``folder`` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime)
            for p in sorted(folder.rglob("*")) if p.is_file() or p.is_symlink()}


def copy(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target
