"""Fixtures of every test of the CLI package: the milestone registry, and no workspace from the environment."""

from __future__ import annotations

import pytest

from milestones import load_registry


@pytest.fixture(scope="session")
def registry():
    return load_registry()


@pytest.fixture(autouse=True)
def _no_env_workspace(monkeypatch):
    """A CHALLENGE_WORKSPACE of the developer's shell must not decide which workspace a test opens."""
    monkeypatch.delenv("CHALLENGE_WORKSPACE", raising=False)
