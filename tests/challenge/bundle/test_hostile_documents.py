"""Hostile bundles that attack the reader rather than the sandbox: JSON nested
100,000 deep, mistyped JSON, escape sequences and rich markup in the handle and
in a zip entry name, raw HTML in notes. Each is refused or shown cleanly: exit 2
naming the file and the check (nothing runs), no traceback, and nothing of the
attacker's reaches the terminal raw."""

from __future__ import annotations

import hashlib
import json

import pytest

from challenge.bundle.pack import submit
from challenge.bundle.verify import verify_bundle
from challenge.record.workspace import init_workspace
from tests.challenge.bundle.helpers import (
    LOG, fake_pass, forged_event, read_entries, reference_source, rewrite, write_entries,
)
from tests.conftest import FakeClock

NESTED = b"[" * 100_000 + b"]" * 100_000
CONFIG = "workspace/workspace.json"
ESCAPES = "\x1b[2J\x1b[H\x1b]0;owned\x07"  # clear the screen, home the cursor, set the window title
FAKE_VERDICT = "[bold green]VERIFIED: every claimed pass[/bold green]"


def _refuse_to_run():
    raise AssertionError("a malformed bundle must be refused before any code runs")


@pytest.fixture
def bundle(tmp_path, registry):
    clock = FakeClock()
    workspace = init_workspace(handle="ada", path=tmp_path / "ada", clock=clock)
    fake_pass(workspace, registry, "attention", source=reference_source())
    return submit(workspace=workspace, registry=registry, output=tmp_path / "ada.zip").zip_path


def _results_name(bundle) -> str:
    return next(n for n in read_entries(bundle) if "/results/" in n)


def _invoke(capsys, *args) -> tuple[int, str]:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    captured = capsys.readouterr()
    return done.value.code, captured.out + captured.err


def _clean(output: str) -> None:
    assert "Traceback" not in output and "RecursionError" not in output and "TypeError" not in output
    assert "\x1b" not in output and "\x07" not in output, repr(output)


def _only_problem(bundle, registry) -> tuple[str, str, str]:
    result = verify_bundle(source=bundle, registry=registry, isolation=_refuse_to_run)
    assert result.exit_code == 2 and result.milestones == []
    return result.problems[0].check, result.problems[0].file, result.problems[0].reason


@pytest.mark.parametrize("target", ["manifest.json", CONFIG, "results", LOG])
def test_json_nested_100000_deep_is_refused_by_name(tmp_path, registry, bundle, capsys, target):
    name = _results_name(bundle) if target == "results" else target
    entries = read_entries(bundle)
    entries[name] = entries[LOG] + NESTED + b"\n" if target == LOG else NESTED  # the log: one line, the rest intact
    if target != "manifest.json":  # the forger re-signs the file's hash (the log's head is unchanged)
        manifest = json.loads(entries["manifest.json"])
        manifest["files"][name] = {"sha256": hashlib.sha256(entries[name]).hexdigest(), "size": len(entries[name])}
        entries["manifest.json"] = json.dumps(manifest).encode()
    hostile = write_entries(tmp_path / "nested.zip", entries)
    check, file, reason = _only_problem(hostile, registry)
    expected = {"manifest.json": "manifest", CONFIG: "document", "results": "document", LOG: "event log"}[target]
    assert (check, file) == (expected, name) and "nested deeper than" in reason
    for command in ("verify", "show", "cohort"):
        code, output = _invoke(capsys, command, str(hostile))
        _clean(output)
        flat = " ".join(output.split())
        assert code == 2 and name in flat and "nested deeper than" in flat


@pytest.mark.parametrize(("change", "field"), [
    ({"milestones": [{"id": ["attention"], "folder": "01_attention", "learner_file": "", "grader_version": "",
                      "hidden_tests_sha256": ""}]}, "milestones.0.id"),
    ({"handle": ["ada"]}, "handle"),
    ({"created_at": "yesterday"}, "created_at"),
    ({"event_log": {"path": LOG, "events": "all of them", "head": "0" * 64}}, "event_log.events"),
    ({"files": {"workspace/x.py": {"sha256": "0" * 64, "size": True}}}, "files.workspace/x.py.size"),
])
def test_a_mistyped_manifest_is_refused_naming_the_field(tmp_path, registry, bundle, capsys, change, field):
    manifest = json.loads(read_entries(bundle)["manifest.json"]) | change
    hostile = rewrite(bundle, tmp_path / "m.zip", {"manifest.json": json.dumps(manifest).encode()}, sign=False)
    check, file, reason = _only_problem(hostile, registry)
    assert (check, file) == ("manifest", "manifest.json") and reason.startswith(field + ":")
    code, output = _invoke(capsys, "verify", str(hostile))
    _clean(output)
    assert code == 2 and f"manifest check failed: manifest.json: {field}" in " ".join(output.split())


def test_a_log_event_whose_milestone_is_a_list_is_refused(tmp_path, registry, bundle, capsys):
    log = forged_event(read_entries(bundle)[LOG], "test", ["attention", "multihead"],  # correctly chained
                       {"status": "pass", "passed": 1, "total": 1})
    hostile = rewrite(bundle, tmp_path / "list.zip", {LOG: log})
    check, file, reason = _only_problem(hostile, registry)
    assert (check, file) == ("event log", LOG) and "milestone" in reason
    for command in ("verify", "show"):
        code, output = _invoke(capsys, command, str(hostile))
        _clean(output)
        assert code == 2 and "event log check failed" in " ".join(output.split())


def test_a_mistyped_event_and_a_mistyped_results_document_are_refused(tmp_path, registry, bundle):
    log = forged_event(read_entries(bundle)[LOG], "test", "attention", {"status": "pass", "passed": "all"})
    check, file, reason = _only_problem(rewrite(bundle, tmp_path / "e.zip", {LOG: log}), registry)
    assert (check, file) == ("event log", LOG) and "data.passed" in reason
    name = _results_name(bundle)
    document = json.loads(read_entries(bundle)[name])
    document["tests"][0]["name"] = {"not": "a name"}
    check, file, reason = _only_problem(rewrite(bundle, tmp_path / "r.zip", {name: json.dumps(document).encode()}),
                                        registry)
    assert (check, file) == ("document", name) and "tests.0.name" in reason


def test_newer_results_fields_are_accepted_when_they_are_plain_json(tmp_path, registry, bundle, capsys):
    name = _results_name(bundle)
    document = json.loads(read_entries(bundle)[name])
    document["rule"] = {"static": {"violations": []}, "dispatched": ["aten::mm"]}
    document["tests"][0] |= {"diagnosis": {"mistake": None, "probes": [1, 2]}, "family": "equivalence"}
    newer = rewrite(bundle, tmp_path / "newer.zip", {name: json.dumps(document).encode()})
    code, output = _invoke(capsys, "show", str(newer))
    assert code == 0 and "integrity checks passed" in output


@pytest.mark.parametrize("handle", [ESCAPES + "ada", FAKE_VERDICT])
def test_escape_sequences_and_markup_in_the_handle_never_reach_the_terminal(tmp_path, registry, bundle, capsys,
                                                                            handle):
    entries = read_entries(bundle)
    manifest = json.loads(entries["manifest.json"]) | {"handle": handle}
    config = json.loads(entries[CONFIG]) | {"handle": handle}
    hostile = rewrite(bundle, tmp_path / "h.zip", {"manifest.json": json.dumps(manifest).encode(),
                                                   CONFIG: json.dumps(config).encode()})
    check, file, reason = _only_problem(hostile, registry)
    assert check == "document" or (check, file) == ("manifest", "manifest.json")
    assert reason.startswith("handle:") and "\x1b" not in reason and "VERIFIED" not in reason
    for command in ("verify", "show", "cohort"):
        code, output = _invoke(capsys, command, str(hostile))
        _clean(output)
        assert code == 2 and "VERIFIED" not in output


def test_escape_sequences_in_a_zip_entry_name(tmp_path, registry, bundle, capsys):
    hostile = rewrite(bundle, tmp_path / "z.zip", {f"workspace/{ESCAPES}evil.py": b"x = 1\n"}, sign=False)
    check, _, reason = _only_problem(hostile, registry)
    assert (check, reason) == ("archive", "control characters in the name")
    for command in ("verify", "show", "cohort"):
        code, output = _invoke(capsys, command, str(hostile))
        _clean(output)
        assert code == 2 and "workspace/[2J[Hevil.py" not in output and "workspace/evil.py" in output


def test_rich_markup_in_a_zip_entry_name_is_shown_as_text(tmp_path, registry, bundle, capsys):
    hostile = rewrite(bundle, tmp_path / "z.zip", {f"workspace/{FAKE_VERDICT}.py": b"x = 1\n"}, sign=False)
    check, file, _ = _only_problem(hostile, registry)
    assert (check, file) == ("listing", f"workspace/{FAKE_VERDICT}.py")
    for command in ("verify", "show", "cohort"):
        code, output = _invoke(capsys, command, str(hostile))
        _clean(output)
        # printed literally, tags and all: had rich read it as markup, the tags would have vanished
        assert code == 2 and FAKE_VERDICT in " ".join(output.split())


def test_raw_html_in_notes_is_escaped_in_the_markdown_outputs(tmp_path, registry, capsys):
    clock = FakeClock()
    workspace = init_workspace(handle="ada", path=tmp_path / "ada", clock=clock)
    fake_pass(workspace, registry, "attention", source=reference_source())
    note = '<img src=x onerror="alert(1)"><script>steal()</script>'
    workspace.log.append("time_adjust", milestone="attention", data={"seconds": 600.0, "note": note})
    workspace.log.append("reflect", milestone="attention", data={"answers": {"obvious": {"rating": 4, "text": note}}})
    bundle = submit(workspace=workspace, registry=registry, output=tmp_path / "ada.zip").zip_path
    entries = read_entries(bundle)
    for name in ("README.md", "report/report.md"):
        text = entries[name].decode()
        assert "<script>" not in text and "<img" not in text and "&lt;script&gt;steal()&lt;/script&gt;" in text
    code, output = _invoke(capsys, "show", str(bundle), "--format", "md")
    assert code == 0 and "<script>" not in output and "&lt;script&gt;" in output
