"""`challenge test` output grouped by what is wrong, on a catalogued mistake.

The fixture is a trimmed copy of the results document `challenge test attention`
gave on milestone 1's no-scaling mutant (seed 1: 16 of 21 tests failing), with
the diagnosis the judge gives every failing test of that mutant.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from rich.console import Console

from challenge.feedback.failure_groups import group_failures
from challenge.feedback.failure_groups import tests_from_document as read_tests
from challenge.output import Output
from challenge.feedback.render_results import render_run
from grader.results import RunResult

FIXTURE = Path(__file__).parent.parent / "fixtures" / "no_scale_attention.json"
SCREEN = 40  # lines of an 80-column terminal the output must fit in
SUMMARY = "no 1/sqrt(d_k) scaling of the scores"


@pytest.fixture
def document() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def render(document: dict, *, verbose: bool = False, width: int = 80) -> list[str]:
    output = Output()
    output.console = Console(width=width, record=True, highlight=False, soft_wrap=False, color_system=None)
    render_run(output, RunResult.from_dict(document), milestone_id="attention", verbose=verbose,
               next_command="challenge test attention", results_file="results/20261128T214425-1.json")
    return output.console.export_text().splitlines()


def boxes(lines: list[str]) -> int:
    return sum(1 for line in lines if line.startswith("╭"))


def flat(lines: list[str]) -> str:
    """The text with the box borders and line wraps taken out, for phrases that wrap."""
    return " ".join(" ".join(line.strip("│╭╮╰╯─ ") for line in lines).split())


def test_the_fixture_is_the_catalogued_mistake(document):
    failing = [t for t in document["tests"] if t["status"] != "pass"]
    assert len(failing) == 16 and len(document["tests"]) == 21 and document["tests"][0]["family"] == "rule"
    assert {t["diagnosis"]["mistake"] for t in failing} == {"no-scale"}


def test_one_catalogued_mistake_fits_one_screen_in_one_box(document):
    lines = render(document)
    assert len(lines) + 1 <= SCREEN, "\n".join(lines)  # + the "Testing attention in a sandbox ..." line
    assert max(len(line) for line in lines) <= 80
    assert boxes(lines) == 1
    assert lines[1].strip("│ ") == f"16 tests: {SUMMARY}"
    text = flat(lines)
    assert "evidence: your output equals softmax(q @ k^T) @ v" in text
    # the tests it explains, each family once with its count
    for family in ("matches F.scaled_dot_product_attention, no mask ×2", "a causal mask (T_q, T_k) broadcast over "
                   "the batch ×2", "SelfAttention equals a one-head nn.MultiheadAttention with the same weights ×4",
                   "a query whose keys are all masked returns zeros, never NaN"):
        assert family in text
    assert text.count(SUMMARY) == 2  # the box and the last line, not once per test
    assert "16 of 21 tests not passing, 1 mistake found" in text and "--seed 1" in text
    assert lines[-1] == f"Fix first: {SUMMARY}. Then: challenge test attention"


def test_before_the_grouping_it_took_a_box_per_test(document):
    # the measure the issue gives: one box per failing test, 104-142 lines; --verbose still shows them all
    lines = render(document, verbose=True)
    assert boxes(lines) == 1 + 16 and len(lines) > 3 * SCREEN
    assert lines[-1] == f"Fix first: {SUMMARY}. Then: challenge test attention"


def test_failures_without_a_diagnosis_come_next_by_family_one_example_each(document):
    partial = copy.deepcopy(document)
    for test in partial["tests"]:
        family = test["family"]
        if family.startswith("test_self_attention") or family == "test_fully_masked_rows_give_zeros_not_nan":
            test["diagnosis"], test["hint"] = None, ""
    lines = render(partial)
    heads = [lines[i + 1].strip("│ ") for i, line in enumerate(lines) if line.startswith("╭")]
    assert heads == [f"9 tests: {SUMMARY}", "1 test: a query whose keys are all masked returns zeros, never NaN",
                     "4 tests: SelfAttention equals a one-head nn.MultiheadAttention with the same",
                     "2 tests: SelfAttention with a (T, T) causal mask and a (B, T, T) mask"]
    assert "no diagnosis" in lines[lines.index(next(line for line in lines if "no diagnosis" in line))]
    text = flat(lines)
    assert text.count("e.g. [bias-float64]") == 1 and "[bias-float32]" not in text  # one example per family
    assert "1 mistake found, 3 other groups without a diagnosis" in text
    assert lines[-1] == f"Fix first: {SUMMARY}. Then: challenge test attention"
    assert len(lines) + 1 <= SCREEN + 5


def test_two_diagnoses_two_boxes_the_larger_first(document):
    two = copy.deepcopy(document)
    for test in two["tests"]:
        if test["family"] == "test_self_attention_matches_one_head_mha":
            test["diagnosis"] = {"mistake": "no-bias", "summary": "the biases were not loaded", "evidence": ""}
    groups = group_failures(read_tests(two))
    assert [(g.mistake, len(g.tests)) for g in groups] == [("no-scale", 12), ("no-bias", 4)]
    lines = render(two)
    assert boxes(lines) == 2 and lines[-1].startswith(f"Fix first: {SUMMARY}.")


def test_without_any_diagnosis_a_shared_hint_is_read_once(document):
    bare = copy.deepcopy(document)
    for test in bare["tests"]:
        test["diagnosis"] = None
    groups = group_failures(read_tests(bare))
    # the 9 tests whose known-mistake hint fired share one group; the 7 without a hint group by family
    assert [len(g.tests) for g in groups] == [9, 1, 4, 2]
    assert not any(g.diagnosed for g in groups) and len(groups[0].families()) == 7
    lines = render(bare)
    assert boxes(lines) == 4 and "Fix first: no 1/sqrt(d_k) scaling of the scores. Did you scale by" in flat(lines)


def test_a_rule_failure_is_its_own_group_beside_the_numbers(document):
    ruled = copy.deepcopy(document)
    ruled["tests"][0].update(status="fail", message="Your code uses torch.softmax, which is not allowed here.",
                             hint="Write it from tensor operations.")
    groups = group_failures(read_tests(ruled))
    assert [g.title for g in groups] == [SUMMARY, "uses no forbidden built-in"]
    assert "Write it from tensor operations." in flat(render(ruled))


def test_code_that_does_not_load_says_so_last(document):
    broken = {**document, "status": "error", "tests": [], "message": "Your file could not be loaded. SyntaxError"}
    lines = render(broken)
    assert "could not run your code" in lines[0] and lines[-1].startswith("Fix first: your file must load")


def test_a_pass_has_no_fix_line(document):
    passed = copy.deepcopy(document)
    passed["status"] = "pass"
    for test in passed["tests"]:
        test.update(status="pass", diagnosis=None, message="", hint="")
    lines = render(passed)
    assert boxes(lines) == 0 and not any(line.startswith("Fix first") for line in lines)
    assert lines[0] == "attention passed (21/21 tests, 12.9s)."


def test_results_documents_read_as_plain_json_never_raise():
    junk = {"tests": [None, 3, {"name": 5, "status": "fail", "diagnosis": {"mistake": ["x"]}},
                      {"name": "t [a]", "status": "fail", "family": "test_t", "diagnosis": "no"}]}
    views = read_tests(junk)
    assert [(v.name, v.family, v.diagnosis) for v in views][1] == ("t [a]", "test_t", None)
    assert views[0].diagnosis is not None and views[0].diagnosis.mistake == ""
    assert [(g.title, g.diagnosed) for g in group_failures(views)] == [("", False), ("t", False)]
    assert read_tests("not a document") == []


def test_the_demo_summary_names_the_mistake_and_how_many_tests_it_explains(document):
    from challenge.feedback.render_results import render_summary

    output = Output()
    output.console = Console(width=200, record=True, highlight=False, color_system=None)
    result = RunResult.from_dict(document)
    render_summary(output, result, label="first try")
    text = output.console.export_text()
    explained = sum(1 for t in result.tests if t.diagnosis is not None and t.diagnosis.mistake == "no-scale")
    failing = sum(1 for t in result.tests if t.status != "pass")
    assert f"first try: failed: {failing} of {len(result.tests)} tests not passing" in text
    assert f"mistake found ({explained} tests): {SUMMARY}" in text and "evidence:" in text
    for test in result.tests:
        test.diagnosis = None
    output.console = Console(width=200, record=True, highlight=False, color_system=None)
    render_summary(output, result, label="first try")
    assert "mistake found" not in output.console.export_text()  # without a diagnosis: the first failure's message


def test_verbose_shows_every_test_but_no_fix_the_grouped_view_keeps_back(document):
    """--verbose is honest: it adds tests and evidence, never a diagnosed mistake's fix (that is help, which
    `challenge hint` logs as used); hints the grouped view shows (no diagnosis) it shows too, and it says so."""
    mixed = copy.deepcopy(document)
    fixes = {t["hint"] for t in mixed["tests"] if t["status"] != "pass" and t["diagnosis"] and t["hint"]}
    assert fixes  # the judge's fix for the diagnosed mistake travels in the results
    undiagnosed = next(t for t in mixed["tests"] if t["family"] == "test_fully_masked_rows_give_zeros_not_nan")
    undiagnosed["diagnosis"], undiagnosed["hint"] = None, "A row of -inf gives NaN: return zeros there."
    grouped, verbose = flat(render(mixed)), flat(render(mixed, verbose=True))
    for fix in fixes:
        assert " ".join(fix.split()) not in grouped and " ".join(fix.split()) not in verbose
    assert verbose.count("A row of -inf gives NaN: return zeros there.") == 2  # its group's box, and its own
    assert "A row of -inf gives NaN: return zeros there." in grouped
    assert "fixes for diagnosed mistakes are not shown: `challenge hint` unlocks a hint aimed at them, logged as " \
           "help used" in verbose
    assert boxes(render(mixed, verbose=True)) > boxes(render(mixed))
