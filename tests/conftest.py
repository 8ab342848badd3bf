"""Shared fixtures: an injectable clock, a fresh workspace, and data (tiny copies, the real data sets, or none)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from challenge.record.workspace import init_workspace
from tests.data_sets import FIXTURE_DATA, need_real_data

REPO = Path(__file__).resolve().parents[1]

# A shell started in the background (`cmd &` without job control, nohup) hands its children SIGINT ignored,
# and an ignored signal stays ignored across exec: the tests that press Ctrl-C on a CLI process would see
# nothing happen. A handler (unlike "ignore") is reset to the default in every process the tests start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


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
    """The folder with the real data sets, or a skip that names the command to get them."""
    return need_real_data()


@pytest.fixture
def fixture_data() -> Path:
    """Tiny invented data sets in the original formats: rt-polarity/ and ag_news/."""
    return FIXTURE_DATA


@pytest.fixture
def no_data(tmp_path, monkeypatch) -> Path:
    """No local data anywhere (an empty cache folder, no CHALLENGE_DATA_DIR) and no hub. Returns the cache folder."""
    cache = tmp_path / "empty-data-cache"
    monkeypatch.setenv("CHALLENGE_DATA_CACHE", str(cache))
    monkeypatch.delenv("CHALLENGE_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty hub cache
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    return cache
