"""Plain functions behind `challenge train`: prepare the harness's data, run
the learner's training in the sandbox, and keep the result as a checkpoint
(safetensors weights, a config, the training log) in the workspace."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from challenge.errors import ChallengeError, UsageError
from challenge.grading import builtins_policy, learner_file_of
from challenge.progress import passed_ids
from challenge.storage import write_atomic, write_json_atomic
from challenge.workspace import Workspace
from milestones import Milestone, Registry

CHECKPOINTS = "checkpoints"
LATEST = "latest.json"


@dataclass(frozen=True)
class TrainResult:
    outcome: object  # grader.training.TrainOutcome
    checkpoint_dir: Path | None


def require_training(milestone: Milestone) -> None:
    if milestone.training is None:
        raise UsageError(f"'{milestone.id}' is not a training milestone.",
                         f"It has nothing to train: test it with `challenge test {milestone.id}`.")


def task_name(milestone: Milestone) -> str | None:
    """The harness task a milestone trains on, or whose data its tests use."""
    return milestone.training.task if milestone.training else milestone.grading.task


def prepare_data(milestone: Milestone, *, cache_dir: Path):
    """The harness's data set for ``milestone`` ($CHALLENGE_DATA_DIR, the data cache folder or the hub).
    Without it, the error names the milestone, the data set and the command that gets it."""
    from milestones.tasks import DataUnavailable, prepare_task

    name = task_name(milestone)
    if name is None:
        require_training(milestone)
    try:
        return prepare_task(name, data_dir=None, cache_dir=cache_dir)
    except DataUnavailable as error:
        from challenge.data import FIX_HINT

        raise ChallengeError(f"'{milestone.id}' has no data to work with. {error}", FIX_HINT) from None


def cache_dir_of(workspace: Workspace) -> Path:
    return workspace.root / ".cache"


def train_milestone(*, workspace: Workspace, registry: Registry, milestone: Milestone, budget_s: float | None,
                    device: str, seed: int, on_progress: Callable[[dict], None] | None = None,
                    on_stop_requested: Callable[[], None] | None = None, task=None) -> TrainResult:
    """Train the learner's file in the sandbox; ``task``: the prepared data, if the caller already has it."""
    require_training(milestone)
    budget = float(budget_s if budget_s is not None else milestone.training.default_budget_s)
    if not 0 < budget <= milestone.training.max_budget_s:
        raise UsageError(f"--budget-s must be between 0 and {milestone.training.max_budget_s:g} for {milestone.id}.",
                         f"The default is {milestone.training.default_budget_s:g} s.")
    device = _check_device(device)
    learner_file = learner_file_of(workspace, milestone)
    if task is None:
        task = prepare_data(milestone, cache_dir=cache_dir_of(workspace))
    from grader.training import TrainRequest, run_training

    tracked, forbidden = builtins_policy(registry, milestone, passed_ids(workspace.log.read().events))
    request = TrainRequest(milestone_id=milestone.id, learner_file=learner_file,
                           tensors=task.to_worker_tensors(("train", "validation")), spec=task.spec, budget_s=budget,
                           tracked_builtins=tracked, forbidden_builtins=forbidden,
                           memory_mb=milestone.grading.memory_mb, device=device, seed=seed)
    workspace.log.append("train", milestone=milestone.id, data={"phase": "start", "budget_s": budget, "device": device})
    started = time.time()
    outcome = run_training(request, on_progress=on_progress, on_stop_requested=on_stop_requested)
    checkpoint = None
    if outcome.status == "trained":
        checkpoint = save_checkpoint(workspace=workspace, milestone=milestone, outcome=outcome, task=task,
                                     learner_file=learner_file, budget_s=budget, device=device, seed=seed)
    workspace.log.append("train", milestone=milestone.id, data={
        "phase": "end", "status": outcome.status, "stopped_by": outcome.stopped_by, "elapsed_s": outcome.elapsed_s,
        "busy_s": round(time.time() - started, 3),
        "checkpoint": str(checkpoint.relative_to(workspace.root)) if checkpoint else None,
        "steps": len(outcome.history), "final_loss": outcome.history[-1]["loss"] if outcome.history else None,
        "builtins_used": outcome.builtins_used, "forbidden_used": outcome.forbidden_used})
    return TrainResult(outcome, checkpoint)


def _check_device(device: str) -> str:
    if device not in ("cpu", "cuda"):
        raise UsageError(f"Unknown device '{device}'.", "Use --device cpu or --device cuda.")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for, but PyTorch sees no CUDA GPU here.",
                             "Train on the CPU (the default), or install a CUDA build of PyTorch on a GPU machine.")
    return device


def save_checkpoint(*, workspace: Workspace, milestone: Milestone, outcome, task, learner_file: Path, budget_s: float,
                    device: str, seed: int) -> Path:
    from safetensors.torch import save

    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    folder = workspace.milestone_dir(milestone.folder) / CHECKPOINTS / stamp
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "model.safetensors", save({k: v.contiguous() for k, v in outcome.state.items()}))
    write_atomic(folder / "training_log.jsonl", "".join(json.dumps(r) + "\n" for r in outcome.history))
    write_json_atomic(folder / "config.json", {
        "milestone": milestone.id, "task": task.name, "task_fingerprint": task.fingerprint, "spec": task.spec,
        "seed": seed, "device": device, "budget_s": budget_s, "stopped_by": outcome.stopped_by,
        "elapsed_s": outcome.elapsed_s, "tokens_seen": outcome.tokens_seen, "steps": len(outcome.history),
        "learner_file_sha256": hashlib.sha256(learner_file.read_bytes()).hexdigest(), "created_at": time.time(),
        "builtins_used": outcome.builtins_used})
    if milestone.training.plot:
        from challenge.training_plot import plot_curves

        plot_curves(outcome.history, milestone.training.plot, title=f"{milestone.id}: training log",
                    output=folder / "curves.png")
    write_json_atomic(folder.parent / LATEST, {"checkpoint": stamp})
    return folder


def latest_checkpoint(milestone_dir: Path) -> Path | None:
    pointer = milestone_dir / CHECKPOINTS / LATEST
    try:
        stamp = json.loads(pointer.read_text(encoding="utf-8"))["checkpoint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    folder = milestone_dir / CHECKPOINTS / str(stamp)
    return folder if (folder / "model.safetensors").is_file() and "/" not in str(stamp) else None


def load_checkpoint(folder: Path) -> tuple[dict, dict]:
    """(state dict, config) of a checkpoint folder; safetensors loading runs no code."""
    from safetensors.torch import load_file

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        return load_file(str(folder / "model.safetensors")), config
    except (OSError, ValueError) as error:
        raise ChallengeError(f"The checkpoint in {folder} is unreadable ({error}).",
                             "Train again: challenge train " + folder.parent.parent.name.split("_", 1)[-1]) from None


def grading_options(*, milestone_dir: Path, milestone: Milestone, cache_dir: Path) -> dict:
    """What a milestone's hidden tests need beyond the learner's file: for a training
    milestone the data and the learner's checkpoint; for one with ``grading.task``
    that task's data; for the others nothing."""
    if milestone.training is None:
        return {"task": prepare_data(milestone, cache_dir=cache_dir)} if milestone.grading.task else {}
    folder = latest_checkpoint(milestone_dir)
    if folder is None:
        raise UsageError(f"No trained model for '{milestone.id}' yet.",
                         f"Train first: challenge train {milestone.id}")
    state, config = load_checkpoint(folder)
    task = prepare_data(milestone, cache_dir=cache_dir)
    require_same_data(config, task, trained=milestone.id)
    return {"task": task, "checkpoint": state, "checkpoint_config": config, "checkpoint_dir": str(folder),
            "training_log": read_training_log(folder)}


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
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
