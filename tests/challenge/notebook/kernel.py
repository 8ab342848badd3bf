"""What the notebook tests need: the extra's packages (a skip naming the install command, or a failure
where CI asks for them), and the text of a cell's outputs."""

from __future__ import annotations

import importlib
import os

import pytest

INSTALL = "pip install -e '.[notebook]'"
REQUIRED = os.environ.get("CHALLENGE_TEST_REQUIRE_NOTEBOOK") == "1"  # CI's notebook block: a skip is a failure


def need(module: str):
    """``module``, or a skip that names the command to get it (a failure under CHALLENGE_TEST_REQUIRE_NOTEBOOK=1)."""
    if REQUIRED:
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs the notebook extra: {INSTALL}")


def output_text(cell) -> str:
    """Everything a cell showed, as text: streams, and the text/plain of displays and results."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("display_data", "execute_result"):
            parts.append(output.get("data", {}).get("text/plain", ""))
        elif output.get("output_type") == "error":
            parts.append("\n".join(output.get("traceback", [])))
    return "".join(part if part.endswith("\n") else part + "\n" for part in parts)


def output_html(cell) -> str:
    return "".join(output.get("data", {}).get("text/html", "") for output in cell.get("outputs", [])
                   if output.get("output_type") in ("display_data", "execute_result"))
