"""The reversal task (milestones/tasks/reversal.py): computed, the same on every machine, laid out as
x_1 .. x_n SEP x_n .. x_1, with distinct sequences in disjoint splits and no test row for the worker."""

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from milestones.tasks import TASKS, prepare_task
from milestones.tasks.reversal import ReversalSettings, draw_halves, encode, prepare

REPO = Path(__file__).resolve().parents[2]
SMALL = ReversalSettings(n_symbols=4, half_len=6, n_train=1300, n_validation=300, n_test=400, seed=3)


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    return prepare_task("reversal", data_dir=None, cache_dir=tmp_path_factory.mktemp("cache"))


def test_registered_as_a_computed_task():
    assert TASKS["reversal"].corpus is None and TASKS["reversal"].settings == ReversalSettings()


def test_spec_and_split_sizes(task):
    assert task.spec == {"task": "reversal", "vocab_size": 17, "n_symbols": 16, "sep_id": 16, "half_len": 8,
                         "seq_len": 17, "block_size": 16, "n_train": 100_000, "n_validation": 2_000, "pad_id": -1}
    assert {s: tuple(task.inputs[s].shape) for s in ("train", "validation", "test")} == {
        "train": (100_000, 17), "validation": (2_000, 17), "test": (4_096, 17)}
    assert task.kind == "reversal" and task.labels == {} and task.label_names[-1] == "|"
    assert set(task.to_worker_tensors()) == {"train.ids", "validation.ids"}  # the test rows stay with the judge


def test_every_row_is_a_sequence_sep_and_the_sequence_reversed(task):
    for split in ("train", "validation", "test"):
        rows = task.inputs[split].long()
        first, sep, second = rows[:, :8], rows[:, 8], rows[:, 9:]
        assert bool((sep == 16).all()) and torch.equal(second, first.flip(1))
        assert int(first.min()) == 0 and int(first.max()) == 15  # symbols only, SEP never among them


def test_symbols_look_uniform_and_independent(task):
    first = task.inputs["train"].long()[:, :8]
    counts = torch.bincount(first.flatten(), minlength=16).double()
    expected = first.numel() / 16
    assert float(((counts - expected) ** 2 / expected).sum()) < 60  # chi-square, 15 dof: p ~ 1e-7 at 60
    same = (first[:, 1:] == first[:, :-1]).double().mean()  # neighbours agree 1 time in 16
    assert abs(float(same) - 1 / 16) < 0.005


def test_no_sequence_twice_or_in_two_splits(task):
    seen = [{tuple(row) for row in task.inputs[s][:, :8].tolist()} for s in ("train", "validation", "test")]
    assert [len(s) for s in seen] == [100_000, 2_000, 4_096]
    assert not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_deterministic_in_a_fresh_process(task, tmp_path):
    code = ("import sys, pathlib; from milestones.tasks import prepare_task\n"
            "t = prepare_task('reversal', data_dir=None, cache_dir=pathlib.Path(sys.argv[1]))\n"
            "print(t.fingerprint, *(int((t.inputs[s].long() * (1 + __import__('torch').arange(17))).sum()) "
            "for s in ('train', 'validation', 'test')))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.split()
    weights = 1 + torch.arange(17)
    assert out == [task.fingerprint, *(str(int((task.inputs[s].long() * weights).sum()))
                                       for s in ("train", "validation", "test"))]


def test_settings_change_the_rows_and_the_fingerprint(tmp_path):
    a, b = prepare("r", None, SMALL, tmp_path), prepare("r", None, replace(SMALL, seed=4), tmp_path)
    assert a.fingerprint != b.fingerprint and not torch.equal(a.inputs["train"], b.inputs["train"])
    again = prepare("r", None, SMALL, tmp_path)
    assert again.fingerprint == a.fingerprint and torch.equal(again.inputs["test"], a.inputs["test"])


def test_small_settings_still_give_distinct_rows():
    halves = draw_halves(SMALL)  # 2,000 of 4^6 = 4,096 possible: duplicates are common and must be dropped
    assert len({tuple(h) for h in halves.tolist()}) == len(halves) == 2000
    assert encode(torch.tensor([[1, 2, 3]]), sep_id=9).tolist() == [[1, 2, 3, 9, 3, 2, 1]]


@pytest.mark.parametrize("settings", [dict(n_symbols=1), dict(n_symbols=27), dict(half_len=1),
                                      dict(n_test=0), dict(n_symbols=2, half_len=4)])
def test_impossible_settings_are_refused(settings):
    with pytest.raises(ValueError):
        ReversalSettings(**settings)
