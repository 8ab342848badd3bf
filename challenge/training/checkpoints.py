"""A trained model on disk: safetensors weights, a config and the training log,
one folder per run under ``<milestone>/checkpoints/``, with ``latest.json``
naming the newest. Loading reads weights only (safetensors cannot run code)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from challenge.errors import ChallengeError, UsageError
from challenge.safe_json import load_json, read_json_file
from challenge.record.storage import write_atomic, write_json_atomic
from challenge.record.workspace import Workspace
from grader.results import TrainOutcome
from milestones import Milestone

CHECKPOINTS = "checkpoints"
LATEST = "latest.json"


def save_checkpoint(*, workspace: Workspace, milestone: Milestone, outcome: TrainOutcome, task, budget_s: float,
                    device: str, seed: int) -> Path:
    """``outcome.learner_file_sha256``: the hash of the text that trained (the file may have changed since)."""
    from safetensors.torch import save

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    folder = workspace.milestone_dir(milestone.folder) / CHECKPOINTS / stamp
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "model.safetensors", save({k: v.contiguous() for k, v in outcome.state.items()}))
    write_atomic(folder / "training_log.jsonl", "".join(json.dumps(r) + "\n" for r in outcome.history))
    write_json_atomic(folder / "config.json", {
        "milestone": milestone.id, "task": task.name, "task_fingerprint": task.fingerprint, "spec": task.spec,
        "seed": seed, "device": device, "budget_s": budget_s, "stopped_by": outcome.stopped_by,
        "elapsed_s": outcome.elapsed_s, "cpu_s": outcome.cpu_s, "threads": outcome.threads,
        "tokens_seen": outcome.tokens_seen, "steps": len(outcome.history),
        "learner_file_sha256": outcome.learner_file_sha256, "created_at": time.time(),
        "builtins_used": outcome.builtins_used})
    if milestone.training.plot:
        from challenge.training.plot import plot_curves

        plot_curves(outcome.history, milestone.training.plot, title=f"{milestone.id}: training log",
                    output=folder / "curves.png")
    write_json_atomic(folder.parent / LATEST, {"checkpoint": stamp})
    return folder


def latest_checkpoint(milestone_dir: Path) -> Path | None:
    pointer = milestone_dir / CHECKPOINTS / LATEST
    try:
        stamp = read_json_file(pointer, max_bytes=4096)["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    folder = milestone_dir / CHECKPOINTS / str(stamp)
    return folder if (folder / "model.safetensors").is_file() and "/" not in str(stamp) else None


def load_checkpoint(folder: Path) -> tuple[dict, dict]:
    """(state dict, config) of a checkpoint folder; safetensors loading runs no code."""
    from safetensors.torch import load_file

    try:
        config = read_json_file(folder / "config.json", max_bytes=1 << 20)
        if not isinstance(config, dict):
            raise ValueError("config.json is not a mapping")
        return load_file(str(folder / "model.safetensors")), config
    except (OSError, ValueError) as error:
        raise ChallengeError(f"The checkpoint in {folder} is unreadable ({error}).",
                             "Train again: challenge train " + folder.parent.parent.name.split("_", 1)[-1]) from None


def require_same_data(config: dict, task, *, trained: str, alternative: str = "") -> None:
    """Refuse a checkpoint whose config says it was trained on other data or tokenisation than ``task``."""
    if config.get("task_fingerprint") != task.fingerprint:
        raise UsageError(f"The checkpoint for '{trained}' was trained on different data or tokenisation.",
                         f"Train again: challenge train {trained}{alternative}")


def read_training_log(folder: Path) -> list[dict]:
    """The records a checkpoint's training run logged (``task.log``), oldest first. The log is
    written by learner code, so tests treat it as a claim; unreadable lines are skipped."""
    try:
        lines = (folder / "training_log.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        try:
            record = load_json(line, max_bytes=64 * 1024, max_depth=8)
        except ValueError:  # UntrustedJSON included: too long or too deep is skipped like unreadable
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def trained_model_of(folder: Path):
    """The checkpoint in ``folder`` as the grader reads it (weights and the training log)."""
    from grader.api import TrainedModel

    state, _ = load_checkpoint(folder)
    return TrainedModel(state=state, training_log=tuple(read_training_log(folder)))
