"""`challenge train`'s progress bar: the budget in CPU seconds, the time left in wall time."""

from __future__ import annotations

import pytest

from challenge.training.bar import progress_text


def test_the_bar_counts_cpu_seconds_and_estimates_wall_time_left():
    # 30 CPU s used in 60 s of wall time (a busy machine): 60 CPU s left take about 2 minutes.
    info = {"step": 120, "loss": 0.5123, "elapsed_s": 30.0, "wall_s": 60.0, "time_left_s": 60.0,
            "tokens_per_s": 3400.4}
    assert progress_text(info, budget_s=90) == (
        "step 120 · loss 0.512 · 3,400 tok per CPU s · CPU 30/90 s · about 2:00 left")


def test_on_an_idle_machine_with_two_threads_the_wall_time_left_is_shorter_than_the_budget_left():
    info = {"step": 1, "loss": 1.0, "elapsed_s": 20.0, "wall_s": 10.0, "time_left_s": 70.0}
    assert progress_text(info, budget_s=90).endswith("CPU 20/90 s · about 0:35 left")


def test_long_runs_show_hours():
    info = {"step": 1, "loss": 1.0, "elapsed_s": 10.0, "wall_s": 10.0, "time_left_s": 7200.0}
    assert progress_text(info, budget_s=7210).endswith("about 2:00:00 left")


@pytest.mark.parametrize("info", [
    {},
    {"step": "many", "loss": None, "elapsed_s": "x", "wall_s": [], "time_left_s": {}},
    {"step": True, "loss": float("nan"), "elapsed_s": float("inf"), "tokens_per_s": -1e400},
    {"step": 3, "loss": 1.0, "elapsed_s": 0.0, "wall_s": 0.0, "time_left_s": 90.0},
])
def test_odd_progress_messages_give_text_never_an_error(info):
    text = progress_text(info, budget_s=90)
    assert text.startswith("step ") and "left" not in text
