"""One root exception per package, so that the one table (``challenge.errors``) can map any of them:
every exception class defined in ``challenge``, ``grader`` and ``milestones`` derives from its package's root."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"challenge": ("challenge.errors", "ChallengeError"), "grader": ("grader.errors", "GraderError"),
         "milestones": ("milestones.errors", "MilestonesError")}
SKIP = ("hidden",)  # the hidden tests are pytest files, not importable modules of the package


def _exception_classes(package: str) -> list[tuple[str, str]]:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        if any(part in SKIP for part in parts) or "alternatives" in parts or parts[-1] in ("reference", "stub"):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and any(
                    isinstance(base, ast.Name) and base.id.endswith(("Error", "Exception", "Problem", "Timeout",
                                                                     "Unavailable", "Invalid"))
                    for base in node.bases):
                found.append((".".join(parts), node.name))
    return found


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_exception_derives_from_its_package_root(package):
    root = getattr(importlib.import_module(ROOTS[package][0]), ROOTS[package][1])
    classes = _exception_classes(package)
    assert classes
    strays = [f"{module}.{name}" for module, name in classes
              if not issubclass(getattr(importlib.import_module(module), name), root)]
    assert not strays, f"derive these from {root.__name__}: {strays}"


def test_every_error_the_table_names_by_string_exists():
    """The table names some errors as strings (to avoid importing torch): each must still be a class there."""
    from challenge.errors import _table

    for kind, _ in _table():
        if isinstance(kind, str):
            module, name = kind.rsplit(".", 1)
            assert isinstance(getattr(importlib.import_module(module), name, None), type), kind
