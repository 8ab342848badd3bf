"""`challenge verify` both ways: an honest bundle verifies (exit 0) without
touching anything of the verifier's; a forged pass is re-graded and caught
(exit 1); without isolation nothing runs (exit 3)."""

from __future__ import annotations

import hashlib
import json

import pytest

from challenge.bundle.errors import IsolationUnavailable
from challenge.bundle.verify import verify_bundle
from tests.challenge.bundle.conftest import requires_isolation
from tests.challenge.bundle.helpers import (
    LOG, fake_pass, forged_event, read_entries, reference_source, rewrite, snapshot,
)


def _invoke(*args) -> int:
    from challenge.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


@requires_isolation
def test_an_honest_bundle_verifies_and_leaves_the_verifier_untouched(registry, verifier, graded_bundle):
    bundle_sha = hashlib.sha256(graded_bundle.read_bytes()).hexdigest()
    before = snapshot(verifier.root)
    result = verify_bundle(source=graded_bundle, registry=registry)
    assert result.exit_code == 0, result.to_dict()
    assert result.problems == [] and result.handle == "ada"
    [attention] = result.milestones
    assert (attention.id, attention.claimed, attention.verified) == ("attention", "pass", "pass") and attention.agrees
    assert attention.tests.split("/")[0] == attention.tests.split("/")[1] and attention.attempts == 1
    assert attention.sandbox["isolated"] is True
    # the learner's file is the reference itself: it verifies, and the similarity says what it is
    assert attention.similarity == 1.0 and attention.similarity_flagged
    assert any("as good as a copy" in note for note in attention.notes)
    assert snapshot(verifier.root) == before
    assert not any(verifier.tmp.iterdir()), "verify must clean up its temp folders (extraction and worker scratch)"
    assert hashlib.sha256(graded_bundle.read_bytes()).hexdigest() == bundle_sha


@requires_isolation
def test_a_forged_pass_is_re_graded_and_caught(tmp_path, registry, verifier, graded_bundle):
    """The forger adds a stub multihead, a results document saying pass and a correctly chained
    log event claiming the pass, then re-signs the manifest: integrity holds, re-grading does not."""
    entries = read_entries(graded_bundle)
    attention_doc = next(n for n in entries if n.startswith("workspace/01_attention/results/"))
    forged_doc = json.loads(entries[attention_doc])
    forged_doc.update(milestone="multihead", status="pass")
    stub = (registry.folder(registry.get("multihead")) / "stub.py").read_bytes()
    log = forged_event(entries[LOG], "start", "multihead", {"predict_hours": 1, "predict_pass": 0.9})
    log = forged_event(log, "test", "multihead", {"status": "pass", "passed": 17, "total": 17,
                                                   "results_file": "02_multihead/results/forged.json"})
    bundle = rewrite(graded_bundle, tmp_path / "forged.zip", {
        LOG: log, "workspace/02_multihead/multihead.py": stub,
        "workspace/02_multihead/results/forged.json": json.dumps(forged_doc).encode()})
    result = verify_bundle(source=bundle, registry=registry)
    assert result.problems == [], "a consistent forgery passes the integrity checks ..."
    by_id = {m.id: m for m in result.milestones}
    assert by_id["multihead"].claimed == "pass" and by_id["multihead"].verified != "pass"  # ... but not the tests
    assert not by_id["multihead"].agrees and by_id["attention"].agrees
    assert result.exit_code == 1


@requires_isolation
def test_code_swapped_after_the_pass_is_caught_and_named(tmp_path, registry, verifier, graded_bundle):
    wrong = reference_source().replace(" / math.sqrt(q.size(-1))", "")  # the classic missing 1/sqrt(d)
    assert wrong != reference_source()
    bundle = rewrite(graded_bundle, tmp_path / "swapped.zip", {"workspace/01_attention/attention.py": wrong.encode()})
    result = verify_bundle(source=bundle, registry=registry)
    [attention] = result.milestones
    assert (attention.claimed, attention.verified, result.exit_code) == ("pass", "fail", 1)
    assert any("differs from the code of the logged pass" in note for note in attention.notes)


def test_without_isolation_nothing_runs(registry, graded_bundle, monkeypatch):
    import grader.engine.runner

    def must_not_run(request):
        raise AssertionError("learner code ran without isolation")

    monkeypatch.setattr(grader.engine.runner, "run_milestone", must_not_run)
    with pytest.raises(IsolationUnavailable) as refused:
        verify_bundle(source=graded_bundle, registry=registry, isolation=lambda: "no network namespace (test)")
    assert refused.value.exit_code == 3 and "--allow-unisolated" in refused.value.hint


@requires_isolation
def test_the_cli_prints_the_table_and_json(registry, verifier, graded_bundle, capsys, monkeypatch):
    from challenge.output import out

    monkeypatch.setattr(out.console, "soft_wrap", False)  # as on an 80-column terminal: text wraps there
    assert _invoke("verify", str(graded_bundle)) == 0
    printed = capsys.readouterr().out
    for column in ("milestone", "claimed", "verified", "time", "tries", "help", "built-ins", "like ref."):
        assert column in printed
    assert max(len(line) for line in printed.splitlines()) <= 80  # CliRunner's terminal: nothing cut off
    assert "VERIFIED" in printed and "network none" in printed and "100%" in printed  # like the reference
    flat = " ".join(printed.split())
    assert "What this proves: the code passes the hidden tests on this machine, and the bundle is consistent as " \
           "packed. It cannot prove who wrote the code, nor that the time, attempts and help columns are complete: " \
           "they are the learner's own record." in flat
    assert _invoke("verify", str(graded_bundle), "--json", "--seed", "7") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["exit_code"] == 0 and document["milestones"][0]["verified"] == "pass"
    assert document["milestones"][0]["similarity"] == 1.0 and "cannot prove who wrote" in document["what_this_proves"]


@requires_isolation
def test_an_independent_solution_is_not_flagged(tmp_path, registry, verifier):
    from challenge.bundle.pack import submit
    from challenge.record.workspace import init_workspace

    workspace = init_workspace(handle="bo", path=tmp_path / "bo")
    source = (registry.folder(registry.get("attention")) / "alternatives" / "einsum_fused_qkv.py").read_text()
    fake_pass(workspace, registry, "attention", source=source)
    bundle = submit(workspace=workspace, registry=registry, output=tmp_path / "bo.zip").zip_path
    result = verify_bundle(source=bundle, registry=registry)
    [attention] = result.milestones
    assert result.exit_code == 0 and attention.similarity < 0.3 and not attention.similarity_flagged
    assert not any("copy" in note for note in attention.notes)


def test_the_cli_names_the_failed_check(tmp_path, graded_bundle, capsys):
    bundle = rewrite(graded_bundle, tmp_path / "b.zip", {"workspace/workspace.json": b'{"handle": "mallory"}'},
                     sign=False)
    assert _invoke("verify", str(bundle)) == 2
    printed = " ".join(capsys.readouterr().out.split())
    assert "hash check failed: workspace/workspace.json" in printed and "INVALID" in printed

