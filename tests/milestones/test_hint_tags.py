"""Hints are aimed by tags: every tag names a mistake the judge can diagnose or a hidden test family that exists,
and a hint speaks to every mistake it is tagged with."""

from __future__ import annotations

import ast
import re

import pytest

from grader.judge.diagnosis.catalogue import BY_ID, known_ids
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


# -- every tag's hint speaks to the mistake it names -------------------------------------------------------------
# A mistake's key terms are the catalogue's own words: those of its id that its description (summary and fix)
# uses too ("merge-without-transpose": merge, transpose). A hint tagged with it must use one of them, and where a
# hint has several tags, one that sets this mistake apart from the others (a hint about splitting heads, tagged
# with the merge mistake too, never says "merge").

_FUNCTION_WORDS = {"no", "not", "without", "after", "before", "on", "over", "by", "in", "of", "with", "the", "a",
                   "an", "is", "are", "to", "from", "and", "or", "as", "it", "its", "at", "for", "never", "instead",
                   "used", "twice", "always", "be"}


def _term(word: str) -> str:
    """A word reduced to what its forms share: merged/merge/merging, queries/query, multiplied/multiply."""
    word = word.lower()
    if word.endswith("ies"):
        word = word[:-3] + "y"
    for suffix in ("ing", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:6]


def _terms(text: str) -> set[str]:
    return {_term(w) for w in re.split(r"[^A-Za-z0-9]+", text) if w and w.lower() not in _FUNCTION_WORDS}


def _key_terms(mistake: str) -> set[str]:
    spec = BY_ID[mistake]
    named = _terms(mistake)
    return (named & _terms(f"{spec.summary} {spec.hint}")) or named


def unaddressed(text: str, mistakes: list[str]) -> dict[str, set[str]]:
    """The tags ``text`` does not speak to, each with the terms it could have used."""
    said, missing = _terms(text), {}
    for mistake in mistakes:
        others = set().union(*(_key_terms(o) for o in mistakes if o != mistake))
        own = (_key_terms(mistake) - others) or _key_terms(mistake)
        if not own & said:
            missing[mistake] = own
    return missing


@pytest.mark.parametrize("milestone", REGISTRY.milestones, ids=lambda m: m.id)
def test_every_tagged_hint_speaks_to_each_of_its_mistakes(milestone):
    for hint in milestone.hints:
        assert not unaddressed(hint.text, hint.mistakes), (hint.text, unaddressed(hint.text, hint.mistakes))


def test_a_hint_about_another_mistake_is_caught():
    """The rule fails where it should: the issue's split-heads hint tagged with the merge mistake, a softmax hint
    tagged with a scaling mistake, and a hint that covers one of its two tags only."""
    split = ("Viewing (B, T, d_model) directly as (B, n_heads, T, d_head) without the transpose mixes tokens "
             "between heads: the shapes fit, the numbers are wrong.")
    assert set(unaddressed(split, ["heads-without-transpose", "merge-without-transpose"])) == {
        "merge-without-transpose"}
    assert unaddressed("The softmax runs over the last axis, the keys.", ["no-scale"]) == {"no-scale": {"scal"}}
    assert set(unaddressed("Apply out_proj last.", ["no-out-proj", "no-bias"])) == {"no-bias"}
    assert not unaddressed("To merge the heads, transpose back, then reshape.", ["merge-without-transpose"])
