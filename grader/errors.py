"""The root of every exception the grader raises across its border (``challenge.errors`` maps them to messages).

Torch-free and copied into the sandbox with the worker modules: the wire's own errors derive from it too.
"""

from __future__ import annotations


class GraderError(Exception):
    """Base of the grader's exceptions: catch this to catch any of them."""
