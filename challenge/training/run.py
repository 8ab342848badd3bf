"""Plain functions behind `challenge train`: prepare the harness's data, run
the learner's training in the sandbox, and keep the result as a checkpoint
(safetensors weights, a config, the training log) in the workspace."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from challenge.training.checkpoints import save_checkpoint
from challenge.errors import UsageError
from challenge.record.progress import passed_ids
from challenge.run_requests import learner_file_of, train_request
from challenge.taskdata import cache_dir_of, prepare_data
from challenge.record.workspace import Workspace
from grader.results import TrainOutcome
from milestones import Milestone, Registry


@dataclass(frozen=True)
class TrainResult:
    """A training run: what `challenge train` renders, and what ``challenge.api.train`` returns."""

    outcome: TrainOutcome
    checkpoint_dir: Path | None
    milestone: str = ""  # its id

    @property
    def status(self) -> str:
        return self.outcome.status

    def to_dict(self) -> dict:
        """Everything but the weights (they are in the checkpoint)."""
        from dataclasses import asdict, replace

        folder = str(self.checkpoint_dir) if self.checkpoint_dir else None
        weightless = asdict(replace(self.outcome, state={}))
        return {"milestone": self.milestone, "checkpoint_dir": folder, "outcome": weightless}

    @classmethod
    def from_dict(cls, raw: dict) -> "TrainResult":
        from grader.results import TrainOutcome

        folder = raw.get("checkpoint_dir")
        return cls(TrainOutcome(**raw["outcome"]), Path(folder) if folder else None, raw.get("milestone", ""))

    def _repr_html_(self) -> str:
        from challenge.notebook.html import html_of
        from challenge.training.render import render_training

        return html_of(lambda out: render_training(out, self))


def require_training(milestone: Milestone) -> None:
    if milestone.training is None:
        raise UsageError(f"'{milestone.id}' is not a training milestone.",
                         f"It has nothing to train: test it with `challenge test {milestone.id}`.")


def train_milestone(*, workspace: Workspace, registry: Registry, milestone: Milestone, budget_s: float,
                    device: str, seed: int, on_progress: Callable[[dict], None] | None = None,
                    on_stop_requested: Callable[[], None] | None = None, task=None) -> TrainResult:
    """Train the learner's file in the sandbox; ``budget_s``: as ``training_budget`` decided it; ``task``: the
    prepared data, if the caller already has it. The checkpoint records the hash of the text that trained."""
    require_training(milestone)
    budget = budget_s
    device = _check_device(device)
    learner_file = learner_file_of(workspace, milestone)
    if task is None:
        task = prepare_data(milestone, cache_dir=cache_dir_of(workspace))
    from grader import api

    request = train_request(registry=registry, milestone=milestone, learner_file=learner_file,
                            passed=passed_ids(workspace.log.read().events), task=task, budget_s=budget, seed=seed,
                            device=device)
    workspace.log.append("train", milestone=milestone.id, data={"phase": "start", "budget_s": budget, "device": device})
    started = time.time()
    outcome = api.train(request, on_progress=on_progress, on_stop_requested=on_stop_requested)
    checkpoint = None
    if outcome.status == "trained":
        checkpoint = save_checkpoint(workspace=workspace, milestone=milestone, outcome=outcome, task=task,
                                     budget_s=budget, device=device, seed=seed)
    workspace.log.append("train", milestone=milestone.id, data={
        "phase": "end", "status": outcome.status, "stopped_by": outcome.stopped_by, "elapsed_s": outcome.elapsed_s,
        "cpu_s": outcome.cpu_s, "threads": outcome.threads,
        "busy_s": round(time.time() - started, 3),
        "checkpoint": str(checkpoint.relative_to(workspace.root)) if checkpoint else None,
        "steps": len(outcome.history), "final_loss": outcome.history[-1]["loss"] if outcome.history else None,
        "builtins_used": outcome.builtins_used, "forbidden_used": outcome.forbidden_used})
    return TrainResult(outcome, checkpoint, milestone.id)


def _check_device(device: str) -> str:
    if device not in ("cpu", "cuda"):
        raise UsageError(f"Unknown device '{device}'.", "Use --device cpu or --device cuda.")
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for, but PyTorch sees no CUDA GPU here.",
                             "Train on the CPU (the default), or install a CUDA build of PyTorch on a GPU machine.")
    return device


