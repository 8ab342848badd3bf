"""Tampered bundles: a changed, added or removed file, an edited or deleted
log line, a broken manifest. Each is refused (exit 2) naming the file and the
check, before any of the learner's code runs."""

from __future__ import annotations

import json

import pytest

from challenge.bundle.verify import verify_bundle
from tests.challenge.bundle.helpers import LOG, read_entries, rewrite

CODE = "workspace/01_attention/attention.py"


def _refuse_to_run():
    raise AssertionError("a tampered bundle must be refused before any code runs")


def _problems(bundle, registry):
    result = verify_bundle(source=bundle, registry=registry, isolation=_refuse_to_run)
    assert result.exit_code == 2
    return [(p.check, p.file, p.reason) for p in result.problems]


def test_a_file_changed_after_submit(tmp_path, registry, graded_bundle):
    code = read_entries(graded_bundle)[CODE] + b"\n# improved after submitting\n"
    bundle = rewrite(graded_bundle, tmp_path / "b.zip", {CODE: code}, sign=False)
    assert _problems(bundle, registry) == [("hash", CODE, "sha256 differs from the manifest (changed after submit)")]


def test_a_file_added_or_removed_after_submit(tmp_path, registry, graded_bundle):
    added = rewrite(graded_bundle, tmp_path / "a.zip", {"workspace/01_attention/helper.py": b"x = 1"}, sign=False)
    assert _problems(added, registry)[0][:2] == ("listing", "workspace/01_attention/helper.py")
    removed = rewrite(graded_bundle, tmp_path / "r.zip", {CODE: None}, sign=False)
    assert _problems(removed, registry)[0][:2] == ("listing", CODE)


def _log_lines(bundle) -> list[bytes]:
    return [line for line in read_entries(bundle)[LOG].splitlines() if line.strip()]


@pytest.mark.parametrize("sign", [False, True], ids=["unsigned", "re-signed"])
def test_a_deleted_log_line(tmp_path, registry, graded_bundle, sign):
    lines = _log_lines(graded_bundle)
    start = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "start")
    edited = b"\n".join(lines[:start] + lines[start + 1:]) + b"\n"  # the prediction made at start vanishes
    problems = _problems(rewrite(graded_bundle, tmp_path / "b.zip", {LOG: edited}, sign=sign), registry)
    if sign:  # the forger fixed the manifest: the chain still tells
        assert problems[0][:2] == ("event log", LOG) and "deleted or moved" in problems[0][2]
    else:
        assert problems == [("hash", LOG, "sha256 differs from the manifest (changed after submit)")]


def test_an_edited_log_line_even_when_re_signed(tmp_path, registry, graded_bundle):
    lines = _log_lines(graded_bundle)
    index = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "start")
    event = json.loads(lines[index])
    event["data"]["predict_hours"] = 0.5  # a better-looking prediction
    lines[index] = json.dumps(event, sort_keys=True, separators=(",", ":")).encode()
    problems = _problems(rewrite(graded_bundle, tmp_path / "b.zip", {LOG: b"\n".join(lines) + b"\n"}), registry)
    assert problems[0][:2] == ("event log", LOG) and "was edited" in problems[0][2]


def test_the_last_log_lines_removed_and_re_signed_without_the_head(tmp_path, registry, graded_bundle):
    """Truncation keeps the chain valid; the manifest's recorded head catches it (unless re-signed fully)."""
    entries = read_entries(graded_bundle)
    truncated = b"\n".join(_log_lines(graded_bundle)[:-1]) + b"\n"
    manifest = json.loads(entries["manifest.json"])
    import hashlib

    manifest["files"][LOG] = {"sha256": hashlib.sha256(truncated).hexdigest(), "size": len(truncated)}
    bundle = rewrite(graded_bundle, tmp_path / "b.zip", {LOG: truncated,
                                                         "manifest.json": json.dumps(manifest).encode()}, sign=False)
    problems = _problems(bundle, registry)
    assert problems[0][:2] == ("event log", LOG) and "lines were removed or added" in problems[0][2]


@pytest.mark.parametrize(("manifest", "reason"), [
    (None, "missing"),
    (b"{not json", "not valid JSON"),
    (b'{"schema": "something-else"}', "not a challenge bundle manifest"),
    (b'{"schema": "challenge-bundle", "version": 99}', "newer than this harness"),
])
def test_a_broken_manifest(tmp_path, registry, graded_bundle, manifest, reason):
    bundle = rewrite(graded_bundle, tmp_path / "b.zip", {"manifest.json": manifest}, sign=False)
    [(check, file, why)] = _problems(bundle, registry)
    assert (check, file) == ("manifest", "manifest.json") and reason in why


def test_a_handle_swapped_in_the_manifest(tmp_path, registry, graded_bundle):
    manifest = json.loads(read_entries(graded_bundle)["manifest.json"])
    manifest["handle"] = "grace"
    bundle = rewrite(graded_bundle, tmp_path / "b.zip", {"manifest.json": json.dumps(manifest).encode()}, sign=False)
    assert _problems(bundle, registry)[0][:2] == ("consistency", "workspace/workspace.json")
