"""Fixtures: the registry, and no workspace from the environment."""

from __future__ import annotations

import pytest

from milestones import load_registry


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture(autouse=True)
def _no_env_workspace(monkeypatch):
    monkeypatch.delenv("CHALLENGE_WORKSPACE", raising=False)
