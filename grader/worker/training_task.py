"""``TrainingTask``: what a learner's ``train(model, task)`` receives in the worker.

It serves batches of the harness's data, keeps the time budget and forwards
progress. The budget counts the worker's CPU time (``clock`` is
``time.process_time``: every thread of the process), at a thread count the
engine fixes, so a busy machine makes a run take longer in wall time, never
train less. Progress also carries the wall time (``wall_clock``) so that a
progress bar can estimate when the run ends. It runs inside the sandbox, so it
needs only torch and the stdlib; the data arrive as the flat tensor dict
written by the judge
(``milestones.tasks.PreparedTask.to_worker_tensors``)::

    "<split>.ids"     (N, T)  token ids per example, right-padded with spec["pad_id"]
    "<split>.labels"  (N,)    class ids, when the task has labels
    "<split>.tokens"  (L,)    one token stream (language modelling)

The layout of a batch follows from which tensors exist, never from a task name:

    tokens          -> ids (B, block_size + 1)           spec["block_size"] sets the window
    ids             -> (ids (B, T), padding_mask (B, T))
    ids + labels    -> (ids (B, T), padding_mask (B, T), labels (B,))

``padding_mask`` is True at padding. Columns that are padding in every row of a
batch are cut off, so T varies from batch to batch (up to spec["max_len"]).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

import torch

PROGRESS_INTERVAL_S = 0.2  # at most 5 progress updates a second reach the judge


class TrainingTask:
    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        spec: dict,
        *,
        budget_s: float,
        device: str = "cpu",
        seed: int = 0,
        progress: Callable[[dict], None] | None = None,
        stop_requested: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.process_time,
        wall_clock: Callable[[], float] = time.monotonic,
    ):
        self.spec = dict(spec)
        self.device = torch.device(device)
        self.seed = seed
        self.budget_s = float(budget_s)
        self.history: list[dict] = []  # every log() call, saved by the worker as the training log
        self.tokens_seen = 0  # real (non-padding) tokens served by batches()
        self._data = {name: t.to(self.device) for name, t in tensors.items()}
        self._progress = progress or (lambda info: None)
        self._stop_requested = stop_requested or (lambda: False)
        self._clock, self._wall_clock = clock, wall_clock
        self._started = clock()  # the budget starts now: build the task just before train()
        self._wall_started = wall_clock()
        self._last_progress = -math.inf

    # --- time -----------------------------------------------------------------

    def elapsed(self) -> float:
        """Budget seconds used so far: CPU seconds of the worker, not wall time."""
        return self._clock() - self._started

    def wall_elapsed(self) -> float:
        return self._wall_clock() - self._wall_started

    def time_left(self) -> float:
        """Budget seconds (CPU) left; on a busy machine they take longer than this in wall time."""
        return max(0.0, self.budget_s - self.elapsed())

    def should_stop(self) -> bool:
        """True once the budget is spent or the user pressed Ctrl-C: finish the step and return."""
        return self.time_left() <= 0 or bool(self._stop_requested())

    # --- data -----------------------------------------------------------------

    def batches(self, batch_size: int) -> Iterator:
        """Endless training batches on ``device``, reshuffled every epoch from ``seed``."""
        generator = torch.Generator().manual_seed(self.seed)
        if "train.tokens" in self._data:
            stream, width = self._data["train.tokens"], self.spec["block_size"] + 1
            if len(stream) < width:
                raise ValueError(f"the training stream has {len(stream)} tokens, fewer than one window ({width})")
            while True:  # an epoch: non-overlapping windows from a random offset, in random order
                offset = int(torch.randint(width, (1,), generator=generator))
                starts = torch.arange(offset, len(stream) - width + 1, width)
                if len(starts) == 0:  # stream shorter than one window plus the offset
                    starts = torch.zeros(1, dtype=torch.long)
                starts = starts[torch.randperm(len(starts), generator=generator)]
                for chunk in _chunks(starts, batch_size, drop_last=True):
                    self.tokens_seen += len(chunk) * (width - 1)  # tokens predicted
                    yield self._windows(stream, chunk, width)
        else:
            n = len(self._data["train.ids"])
            while True:
                order = torch.randperm(n, generator=generator)
                for chunk in _chunks(order, batch_size, drop_last=True):
                    batch = self._rows("train", chunk)
                    self.tokens_seen += int((~batch[1]).sum())  # real tokens, not padding
                    yield batch

    def validation_batches(self, batch_size: int) -> Iterator:
        """One pass over the validation split, in order, same layout as ``batches``.
        Language-model windows overlap by one token so that every token is a target once."""
        if "validation.tokens" in self._data:
            stream, block = self._data["validation.tokens"], self.spec["block_size"]
            starts = torch.arange(0, max(len(stream) - 1, 0) // block) * block
            for chunk in _chunks(starts, batch_size, drop_last=False):
                yield self._windows(stream, chunk, block + 1)
        else:
            order = torch.arange(len(self._data["validation.ids"]))
            for chunk in _chunks(order, batch_size, drop_last=False):
                yield self._rows("validation", chunk)

    def _windows(self, stream: torch.Tensor, starts: torch.Tensor, width: int) -> torch.Tensor:
        index = (starts[:, None] + torch.arange(width)).to(self.device)
        return stream[index].long()  # (B, width)

    def _rows(self, split: str, index: torch.Tensor) -> tuple[torch.Tensor, ...]:
        index = index.to(self.device)
        ids = self._data[f"{split}.ids"][index].long()  # (B, max_len)
        padding_mask = ids == self.spec["pad_id"]
        real_columns = (~padding_mask).any(0).nonzero()
        width = int(real_columns.max()) + 1 if len(real_columns) else 1
        ids, padding_mask = ids[:, :width], padding_mask[:, :width]  # drop all-padding columns
        labels = self._data.get(f"{split}.labels")
        return (ids, padding_mask) if labels is None else (ids, padding_mask, labels[index].long())

    # --- progress ---------------------------------------------------------------

    def log(self, step: int, loss: float, **metrics: float) -> None:
        """Record a training step (loss and any metrics, e.g. ``val_loss=...``) and
        forward it to the progress bar. Cheap to call every step."""
        elapsed = self.elapsed()
        record = {"step": int(step), "loss": float(loss), "elapsed_s": round(elapsed, 3)}
        record.update({name: float(value) for name, value in metrics.items()})
        self.history.append(record)
        wall = self.wall_elapsed()
        if wall - self._last_progress >= PROGRESS_INTERVAL_S:  # a rate limit on messages: wall time
            self._last_progress = wall
            rate = self.tokens_seen / elapsed if elapsed > 0 else 0.0  # per CPU second: what the budget buys
            self._progress({**record, "time_left_s": self.time_left(), "wall_s": round(wall, 3),
                            "tokens": self.tokens_seen, "tokens_per_s": rate})


def _chunks(index: torch.Tensor, size: int, *, drop_last: bool) -> Iterator[torch.Tensor]:
    """Consecutive slices of ``index``; a data set smaller than one batch still gives one."""
    if size < 1:
        raise ValueError(f"batch_size must be at least 1, got {size}")
    stop = len(index) - len(index) % size if drop_last and len(index) >= size else len(index)
    for start in range(0, stop, size):
        yield index[start : start + size]
