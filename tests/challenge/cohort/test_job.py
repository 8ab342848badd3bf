"""One job: a bad bundle becomes a payload with its exit code and reason, never
an exception; the claims are read once the integrity checks pass; a crash of
the verifier is this bundle's 'failed'. Nothing here starts a sandbox."""

from __future__ import annotations

import json

import pytest

from challenge.bundle.pack import submit
from challenge.bundle.verify import MilestoneVerification, Verification
from challenge.cohort import job
from challenge.cohort.job import describe, verify_one
from challenge.record.workspace import init_workspace
from tests.challenge.bundle.helpers import fake_pass, reference_source, rewrite
from tests.conftest import FakeClock


def _bundle(tmp_path, registry, handle="ada"):
    workspace = init_workspace(handle=handle, path=tmp_path / handle, clock=FakeClock())
    fake_pass(workspace, registry, "attention", source=reference_source())
    return submit(workspace=workspace, registry=registry, output=tmp_path / f"{handle}.zip").zip_path


def test_a_tampered_bundle_is_exit_2_with_the_failed_check(tmp_path, registry):
    bundle = _bundle(tmp_path, registry)
    tampered = rewrite(bundle, tmp_path / "t.zip", {"workspace/01_attention/attention.py": b"# other"}, sign=False)
    payload = verify_one(source=tampered, registry=registry, isolation=lambda: pytest.fail("nothing may run"))
    assert payload["exit_code"] == 2 and payload["claims"] is None and payload["code"] == {}
    assert payload["reason"].startswith("hash check failed: workspace/01_attention/attention.py")
    not_a_zip = tmp_path / "junk.zip"
    not_a_zip.write_bytes(b"PK\x03\x04 not really")
    assert verify_one(source=not_a_zip, registry=registry)["exit_code"] == 2


def test_claims_are_read_before_anything_runs_and_no_isolation_is_exit_3(tmp_path, registry):
    bundle = _bundle(tmp_path, registry)
    payload = verify_one(source=bundle, registry=registry, isolation=lambda: "no user namespaces")
    assert payload["exit_code"] == 3 and "no user namespaces" in payload["reason"]
    assert payload["claims"]["handle"] == "ada" and payload["claims"]["milestones"]["attention"]["status"] == "passed"
    assert "class" in payload["code"]["attention"]  # the learner's file, as text, for similarity across learners
    json.dumps(payload)  # plain JSON values only


def test_an_unreadable_report_does_not_stop_the_verification(tmp_path, registry, monkeypatch):
    import challenge.cohort.bundles

    def broken(**_):
        raise ValueError("odd log")

    monkeypatch.setattr(challenge.cohort.bundles, "read_learner", broken)
    payload = verify_one(source=_bundle(tmp_path, registry), registry=registry, isolation=lambda: "none here")
    assert payload["exit_code"] == 3 and payload["claims"] is None


def test_describe_names_what_did_not_verify():
    good = MilestoneVerification(id="attention", title="", claimed="pass", verified="pass", tests="21/21")
    bad = MilestoneVerification(id="multihead", title="", claimed="pass", verified="fail", tests="3/19",
                                notes=["16 test(s) failed here, first: test_heads"])
    assert describe(Verification(source="x", milestones=[good])) == "every claimed pass verified: attention"
    assert describe(Verification(source="x", milestones=[good, bad])) == (
        "claimed passes that did not pass here: multihead (fail 3/19: 16 test(s) failed here, first: test_heads)")
    assert describe(Verification(source="x")) == "no pass claimed"


def test_a_crash_in_the_verifier_is_a_failed_payload(tmp_path, monkeypatch):
    def crash(**_):
        raise RecursionError("a bundle that breaks the verifier")

    monkeypatch.setattr(job, "die_with_parent", lambda pid: None)  # the test process must not get a death signal
    monkeypatch.setattr(job, "verify_one", crash)
    target = tmp_path / "payload.json"
    assert job.main(["--bundle", "b.zip", "--payload", str(target), "--parent-pid", "1"]) == 0
    payload = json.loads(target.read_text())
    assert payload["exit_code"] == 4 and "RecursionError: a bundle that breaks the verifier" in payload["reason"]
    long = job.failure_payload("x" * 5000)["reason"]
    assert len(long) == job.REASON_LIMIT and long.endswith("…")
