"""`verify` of a bundle holding a cheat on the built-in rule exits non-zero (issue 24): one bundle per route,
each file a working cheat whose numbers pass, so that only the rule can fail it."""

from __future__ import annotations

from pathlib import Path

import pytest

from challenge.bundle.verify import verify_bundle
from tests.challenge.bundle.conftest import requires_isolation
from tests.challenge.bundle.helpers import rewrite

pytestmark = requires_isolation
CODE = "workspace/01_attention/attention.py"
FIXTURES = Path(__file__).resolve().parents[2] / "grader" / "engine" / "fixtures"
ROUTES = sorted(p.name for p in FIXTURES.glob("rule_*") if p.name != "rule_aten_operator")  # that one also errs
FAST = {"rule_getattr_alias"}  # one in the fast set; the rest (a cold sandbox each) in the slow set


@pytest.mark.parametrize("route", [pytest.param(r, marks=[] if r in FAST else [pytest.mark.slow]) for r in ROUTES])
def test_a_bundle_holding_a_rule_cheat_fails_verification(route, registry, verifier, graded_bundle):
    source = (FIXTURES / route / "attention.py").read_bytes()
    bundle = rewrite(graded_bundle, verifier.root / f"{route}.zip", {CODE: source})
    result = verify_bundle(source=bundle, registry=registry)
    [attention] = result.milestones
    assert (attention.claimed, attention.verified) == ("pass", "fail")
    assert result.exit_code != 0
    passed, total = (int(n) for n in attention.tests.split("/"))
    assert passed == total - 1, attention.tests  # only the rule: the numbers are right
