"""Shared fixtures: an injectable clock and a fresh workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from challenge.workspace import init_workspace

REPO = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def workspace(tmp_path, clock):
    return init_workspace(handle="ada", path=tmp_path / "ws", clock=clock)


@pytest.fixture
def data_dir() -> Path:
    value = os.environ.get("CHALLENGE_DATA_DIR")
    if not value or not Path(value).is_dir():
        pytest.skip("CHALLENGE_DATA_DIR is not set to the offline data (../shared/data)")
    return Path(value)
