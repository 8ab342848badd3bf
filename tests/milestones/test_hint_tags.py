"""Hints are aimed by tags: every tag names a mistake the judge can diagnose or a hidden test family that exists."""

from __future__ import annotations

import ast

import pytest

from grader.judge.diagnosis.catalogue import known_ids
from milestones import load_registry

REGISTRY = load_registry()
HIDDEN = REGISTRY.root.parent / "grader" / "hidden"


def _families(milestone) -> set[str]:
    folder = HIDDEN / REGISTRY.folder(milestone).name
    return {node.name for path in folder.glob("test_*.py")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


@pytest.mark.parametrize("milestone", REGISTRY.milestones, ids=lambda m: m.id)
def test_every_hint_tag_names_a_known_mistake_or_family(milestone):
    mistakes, families = set(known_ids()), _families(milestone)
    for hint in milestone.hints:
        assert set(hint.mistakes) <= mistakes, (hint.text, set(hint.mistakes) - mistakes)
        assert set(hint.families) <= families, (hint.text, set(hint.families) - families)
