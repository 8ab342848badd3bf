"""Merging results documents: keyed by bundle sha256 (no double counting),
conflicts resolved and reported, bad documents left out with the reason, bad
bundles in their own rows, the statistics exact, and the output deterministic
and escaped."""

from __future__ import annotations

import json

import pytest

from challenge.bundle.verify import VerifyOptions
from challenge.cohort.documents import grader_fingerprint, write_document
from challenge.cohort.merge import calibration_bins, merge_results
from challenge.cohort.render import merged_to_dict, render_html, render_json, render_markdown, section_tables
from challenge.errors import UsageError
from tests.challenge.cohort.fakes import document

SHA = [f"{i:x}" * 64 for i in range(1, 10)]


def _folder(tmp_path, name, documents):
    folder = tmp_path / name
    folder.mkdir()
    for doc in documents:
        write_document(folder, doc)
    return folder


def _cohort(registry):
    return [document(registry, sha=SHA[0], handle="ada", hours=2.0, predicted=0.9, first_pass=True),
            document(registry, sha=SHA[1], handle="bo", hours=4.0, predicted=0.7, first_pass=False),
            document(registry, sha=SHA[2], handle="cy", exit_code=1, hours=9.0, predicted=0.3, first_pass=False),
            document(registry, sha=SHA[3], handle=None, exit_code=2, source="bundles/broken.zip")]


def test_shards_merge_to_the_same_report_as_one_folder(tmp_path, registry):
    docs = _cohort(registry)
    whole = _folder(tmp_path, "whole", docs)
    shards = [_folder(tmp_path, f"shard-{i}", docs[i::2]) for i in range(2)]
    overlapping = _folder(tmp_path, "overlap", docs[:3])  # a shard run twice, or shards that overlap
    one = render_json(merge_results(folders=[whole], registry=registry))
    assert render_json(merge_results(folders=shards, registry=registry)) == one
    merged = merge_results(folders=[*shards, overlapping, whole], registry=registry)
    assert render_json(merged) == one and merged.duplicates == 7
    assert len(merged.rows) == 4 and len(merged.cohort.learners) == 3


def test_the_report_has_no_time_of_day(tmp_path, registry):
    first = _folder(tmp_path, "a", _cohort(registry))
    later = [document(registry, sha=d.bundle_sha256, handle=d.claims.handle if d.claims else None,
                      exit_code=d.exit_code, source=d.source, verified_at=d.verified_at + 86400,
                      hours=d.claims.milestones["attention"].actual_hours if d.claims else 2.0,
                      predicted=d.claims.milestones["attention"].predicted_pass if d.claims else 0.6,
                      first_pass=d.claims.milestones["attention"].first_pass if d.claims else True)
             for d in _cohort(registry)]
    assert render_json(merge_results(folders=[first], registry=registry)) == render_json(
        merge_results(folders=[_folder(tmp_path, "b", later)], registry=registry))


def test_per_learner_claimed_and_verified_and_bad_bundles_in_their_own_rows(tmp_path, registry):
    merged = merge_results(folders=[_folder(tmp_path, "r", _cohort(registry))], registry=registry)
    rows = {r.label: r for r in merged.rows}
    assert list(rows) == ["ada", "bo", "cy", "broken.zip"]  # learners by handle, unreadable bundles last
    assert rows["cy"].document.outcome == "not verified" and not rows["cy"].checked[0].agrees
    assert rows["broken.zip"].document.exit_code == 2 and "hash check failed" in rows["broken.zip"].document.reason
    assert merged.cohort.excluded == [("bundles/broken.zip", rows["broken.zip"].document.reason)]
    assert merged.exit_code == 2 and merged.count("verified") == 2
    assert merged.verified == {"attention": (3, 2)}
    data = merged_to_dict(merged)
    assert data["counts"] == {"verified": 2, "not verified": 1, "invalid": 1, "refused": 0, "failed": 0}
    assert [b["label"] for b in data["bundles"]] == ["ada", "bo", "cy", "broken.zip"]


def test_time_against_targets_and_calibration_are_exact(tmp_path, registry):
    merged = merge_results(folders=[_folder(tmp_path, "r", _cohort(registry))], registry=registry)
    [attention] = [t for t in merged.targets if t.id == "attention"]  # target 1.5-3 h, roughly on time to 4.5 h
    assert (attention.low, attention.high, attention.hours.n, attention.hours.median) == (1.5, 3.0, 3, 4.0)
    assert attention.classes == {"faster than target": 0, "within target": 1, "roughly on time": 1,
                                 "over target": 1}
    assert not [t for t in merged.targets if t.id == "core_attention"]  # nobody passed all three
    bins = {(b.low, b.high): b for b in merged.calibration}
    assert bins[(0.8, 1.0)].n == 1 and bins[(0.8, 1.0)].passed == 1.0 and bins[(0.8, 1.0)].stated == 0.9
    assert bins[(0.6, 0.8)].n == 1 and bins[(0.6, 0.8)].passed == 0.0
    assert bins[(0.2, 0.4)].n == 1 and bins[(0.0, 0.2)].n == 0 and bins[(0.0, 0.2)].stated is None
    learners = merged.cohort.learners
    assert calibration_bins(learners[:1])[4].n == 1  # a stated chance of 1.0 falls in the last bin too


def test_a_final_document_wins_over_a_failed_one_and_the_conflict_is_reported(tmp_path, registry):
    failed = document(registry, sha=SHA[0], exit_code=4, verified_at=2_000_000_000.0)
    verified = document(registry, sha=SHA[0], handle="ada", verified_at=1_000_000_000.0)
    merged = merge_results(folders=[_folder(tmp_path, "a", [failed]), _folder(tmp_path, "b", [verified])],
                           registry=registry)
    [row] = merged.rows
    assert row.document.outcome == "verified" and merged.duplicates == 1
    assert len(merged.conflicts) == 1 and "kept the latest final one (verified)" in merged.conflicts[0]
    other = grader_fingerprint(registry, VerifyOptions(retrain=True))
    newer = document(registry, sha=SHA[0], handle="ada", exit_code=1, verified_at=3_000_000_000.0, fingerprint=other)
    merged = merge_results(folders=[tmp_path / "b", _folder(tmp_path, "c", [newer])], registry=registry)
    assert merged.rows[0].document.exit_code == 1  # the later of two final ones
    assert [g.options.retrain for g in merged.graders] == [True]  # the graders of the documents kept


def test_unreadable_documents_are_left_out_with_the_reason(tmp_path, registry):
    folder = _folder(tmp_path, "r", _cohort(registry)[:1])
    (folder / f"{'e' * 64}.json").write_text('{"schema": "challenge-cohort-result", "version": 1}')
    (folder / f"{'d' * 64}.json").write_text("[" * 100_000)
    (folder / "notes.json").write_text("{}")  # not named by a sha256: not a results document
    merged = merge_results(folders=[folder], registry=registry)
    assert len(merged.rows) == 1
    reasons = {name.rsplit("/", 1)[1]: reason for name, reason in merged.unreadable}
    assert set(reasons) == {f"{'e' * 64}.json", f"{'d' * 64}.json"}
    assert "bundle_sha256" in reasons[f"{'e' * 64}.json"] and "nested deeper" in reasons[f"{'d' * 64}.json"]
    assert "Documents left out" in render_markdown(merged)


def test_nothing_to_merge_is_a_usage_error(tmp_path, registry):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="No results documents"):
        merge_results(folders=[tmp_path / "empty"], registry=registry)
    with pytest.raises(UsageError, match="does not exist"):
        merge_results(folders=[tmp_path / "missing"], registry=registry)


def test_a_hostile_handle_or_code_cannot_inject_markup(tmp_path, registry):
    hostile = "x\x1b[2J<script>alert(1)</script>[green]VERIFIED[/green]"
    doc = document(registry, sha=SHA[0], handle="eve", code="# </td><script>alert(2)</script>\nx = 1\n")
    raw = doc.to_dict()
    raw["claims"]["handle"] = hostile  # documents are read back through the model: any text fits
    raw["reason"] = hostile
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / f"{SHA[0]}.json").write_text(json.dumps(raw))
    merged = merge_results(folders=[folder], registry=registry)
    for text in (render_markdown(merged), render_html(merged)):
        assert "<script>" not in text and "\x1b" not in text
    from rich.console import Console

    console = Console(record=True, width=200, force_terminal=True)
    for table in section_tables(merged):
        console.print(table)
    shown = console.export_text()
    assert "[green]VERIFIED[/green]" in shown and "\x1b[2J" not in shown  # shown as text, never as markup
