"""The root of every exception the milestone package raises (``challenge.errors`` maps them to messages)."""

from __future__ import annotations


class MilestonesError(Exception):
    """Base of the milestone package's exceptions: catch this to catch any of them."""
