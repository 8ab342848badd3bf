"""TrainingTask: batch layouts, shuffling, budget and progress, on small synthetic tensors."""

import subprocess
import sys
import time
from itertools import islice

import pytest
import torch

from grader.worker.training_task import TrainingTask

PAD = 0


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def rows_tensors(n=10, t=8, labels=True):
    """Row i is [i+1, i+1, ..., PAD...] with i % 4 + 1 real tokens: easy to trace."""
    ids = torch.zeros(n, t, dtype=torch.int16)
    for i in range(n):
        ids[i, : i % 4 + 1] = i + 1
    tensors = {"train.ids": ids, "validation.ids": ids[:3].clone()}
    if labels:
        tensors |= {"train.labels": torch.arange(n) % 2, "validation.labels": torch.tensor([0, 1, 0])}
    return tensors


def stream_tensors(n=1000):
    return {"train.tokens": torch.arange(n, dtype=torch.int16),
            "validation.tokens": torch.arange(50, dtype=torch.int16)}


def make(tensors, spec=None, **kwargs):
    kwargs.setdefault("budget_s", 10.0)
    return TrainingTask(tensors, spec or {"pad_id": PAD, "block_size": 16}, **kwargs)


def test_labelled_rows_give_ids_padding_mask_labels():
    task = make(rows_tensors())
    ids, padding_mask, labels = next(task.batches(4))
    assert ids.dtype == torch.int64 and padding_mask.dtype == torch.bool and labels.dtype == torch.int64
    assert ids.shape == padding_mask.shape and labels.shape == (4,)
    assert torch.equal(padding_mask, ids == PAD)
    assert torch.equal(labels, (ids[:, 0] - 1) % 2)  # each label still belongs to its row


def test_all_padding_columns_are_trimmed():
    task = make(rows_tensors(), spec={"pad_id": PAD})
    for ids, padding_mask, _ in islice(task.batches(3), 6):
        assert ids.shape[1] == int((~padding_mask).sum(1).max())  # as wide as the longest row, no wider
        assert ids.shape[1] <= 4


def test_unlabelled_rows_give_ids_and_padding_mask():
    batch = next(make(rows_tensors(labels=False)).batches(4))
    assert isinstance(batch, tuple) and len(batch) == 2


def test_every_row_once_per_epoch_and_reshuffled():
    task = make(rows_tensors(n=12))
    batches = list(islice(task.batches(4), 6))  # two epochs
    epochs = [torch.cat([ids[:, 0] for ids, _, _ in batches[i : i + 3]]) for i in (0, 3)]
    for epoch in epochs:
        assert sorted(epoch.tolist()) == list(range(1, 13))
    assert not torch.equal(epochs[0], epochs[1])


def test_same_seed_same_batches_other_seed_other_batches():
    def first(seed):
        return next(make(rows_tensors(), seed=seed).batches(5))[0]

    assert torch.equal(first(3), first(3))
    assert not torch.equal(first(3), first(4))


def test_incomplete_last_batch_is_dropped_in_training_but_kept_in_validation():
    task = make(rows_tensors(n=10))
    sizes = [len(ids) for ids, _, _ in islice(task.batches(4), 4)]
    assert sizes == [4, 4, 4, 4]
    assert [len(ids) for ids, _, _ in task.validation_batches(2)] == [2, 1]
    tiny = make(rows_tensors(n=3))
    assert len(next(tiny.batches(8))[0]) == 3  # a data set smaller than a batch still trains


def test_stream_windows_are_contiguous_and_block_size_plus_one_wide():
    task = make(stream_tensors())
    windows = next(task.batches(8))
    assert windows.shape == (8, 17) and windows.dtype == torch.int64
    assert torch.equal(windows[:, 1:] - windows[:, :-1], torch.ones(8, 16, dtype=torch.int64))


def test_stream_epochs_cover_the_stream_without_overlap():
    task = make(stream_tensors(n=17 * 10 + 5))
    epochs = list(islice(task.batches(100), 3))  # a batch larger than an epoch: one batch per epoch
    for epoch in epochs:
        starts = sorted(epoch[:, 0].tolist())
        assert len(starts) >= 9 and all(b - a >= 17 for a, b in zip(starts, starts[1:]))
    assert len({tuple(e[:, 0].tolist()) for e in epochs}) > 1  # new offset and order each epoch


def test_validation_windows_predict_every_token_once():
    task = make(stream_tensors())
    windows = torch.cat(list(task.validation_batches(2)))  # 50 tokens, block 16: 3 windows
    assert windows.shape == (3, 17)
    targets = windows[:, 1:].flatten().tolist()
    assert targets == list(range(1, 49))


def test_stream_shorter_than_a_window_is_an_error():
    with pytest.raises(ValueError, match="fewer than one window"):
        next(make({"train.tokens": torch.arange(5)}).batches(2))


def test_budget_and_stop_request():
    clock, stop = Clock(), {"now": False}
    task = make(rows_tensors(), budget_s=30, clock=clock, stop_requested=lambda: stop["now"])
    assert task.time_left() == 30 and not task.should_stop()
    clock.now += 29.5
    assert task.time_left() == pytest.approx(0.5) and not task.should_stop()
    stop["now"] = True
    assert task.should_stop()
    stop["now"] = False
    clock.now += 1
    assert task.time_left() == 0 and task.should_stop()


def test_the_budget_counts_cpu_time_not_wall_time():
    cpu, wall = Clock(), Clock()
    task = make(rows_tensors(), budget_s=30, clock=cpu, wall_clock=wall)
    wall.now += 600  # a busy machine: ten minutes pass while the worker gets 10 s of CPU
    cpu.now += 10
    assert task.elapsed() == 10 and task.wall_elapsed() == 600
    assert task.time_left() == 20 and not task.should_stop()
    cpu.now += 20
    assert task.should_stop()  # 30 CPU seconds, however long they took


def test_by_default_the_budget_clock_is_the_process_cpu_time():
    task = make(rows_tensors(), budget_s=30)
    time.sleep(0.3)  # waiting costs wall time and no CPU
    assert task.wall_elapsed() >= 0.3
    assert task.elapsed() < 0.2


def test_log_records_every_call_and_rate_limits_progress_in_wall_time():
    cpu, wall, updates = Clock(), Clock(), []
    task = make(rows_tensors(), budget_s=10, clock=cpu, wall_clock=wall, progress=updates.append)
    for step in range(10):
        cpu.now += 0.05
        wall.now += 0.05
        task.log(step, torch.tensor(1.5), acc=torch.tensor(0.25))
    assert len(task.history) == 10
    assert task.history[0] == {"step": 0, "loss": 1.5, "elapsed_s": 0.05, "acc": 0.25}
    assert 2 <= len(updates) <= 3  # 0.5 s at most 5 a second
    assert {"step", "loss", "time_left_s", "wall_s", "tokens", "tokens_per_s"} <= set(updates[0])
    cpu.now += 0.5
    wall.now += 2.0  # a busy machine: CPU time advances slower than the wall clock
    task.log(10, 1.0)
    assert updates[-1]["elapsed_s"] == pytest.approx(1.0) and updates[-1]["wall_s"] == pytest.approx(2.5)
    assert updates[-1]["time_left_s"] == pytest.approx(9.0)


def test_progress_rate_is_tokens_per_cpu_second():
    cpu, wall, updates = Clock(), Clock(), []
    task = make(rows_tensors(), clock=cpu, wall_clock=wall, progress=updates.append)
    next(task.batches(4))
    cpu.now += 2.0
    wall.now += 8.0
    task.log(0, 1.0)
    assert updates[-1]["tokens_per_s"] == pytest.approx(task.tokens_seen / 2.0)


def test_tokens_seen_counts_real_tokens():
    task = make(rows_tensors())
    ids, padding_mask, _ = next(task.batches(4))
    assert task.tokens_seen == int((~padding_mask).sum())
    list(task.validation_batches(4))
    assert task.tokens_seen == int((~padding_mask).sum())  # validation does not count


def test_module_imports_only_torch_and_the_stdlib():
    code = (
        "import sys; import grader.worker.training_task; "
        "bad = [m for m in ('challenge', 'milestones', 'datasets', 'tokenizers') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
