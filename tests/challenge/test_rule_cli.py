"""`challenge test` shows the built-in rule failing (issue 24): a cheat through a route the old deny-list missed,
and milestone 3's LayerNorm written as F.group_norm with one group (a built-in normalisation of the same family).
Each still gets its numbers checked: only the rule fails."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from challenge.record.bookkeeping import start_milestone
from challenge.cli import app
from challenge.record.workspace import init_workspace
from tests.challenge.bundle.conftest import requires_isolation

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]
GROUP_NORM = '''    def forward(self, x):
        return F.group_norm(x.reshape(-1, x.shape[-1]), 1, self.weight, self.bias, self.eps).reshape(x.shape)
'''


def _test(tmp_path, registry, milestone_id: str, source: str) -> str:
    workspace = init_workspace(handle="eve", path=tmp_path / "ws")
    milestone = registry.get(milestone_id)
    start_milestone(workspace=workspace, registry=registry, milestone=milestone, predict_hours=1, predict_pass=0.5)
    (workspace.milestone_dir(milestone.folder) / milestone.learner_file).write_text(source)
    result = runner.invoke(app, ["test", milestone_id, "--workspace", str(workspace.root), "--verbose"])
    assert result.exit_code != 0, result.output
    return " ".join(result.output.split())


@requires_isolation
def test_a_getattr_alias_fails_the_rule_in_challenge_test(tmp_path, registry):
    source = (REPO / "tests/grader/engine/fixtures/rule_getattr_alias/attention.py").read_text()
    printed = _test(tmp_path, registry, "attention", source)
    assert "uses no forbidden built-in" in printed and "computed attribute names are not allowed" in printed


@pytest.mark.slow
@requires_isolation
def test_group_norm_as_layer_norm_fails_the_block_milestone(tmp_path, registry):
    reference = (REPO / "milestones/03_block/reference.py").read_text()
    start = reference.index("    def forward(self, x):\n        mean = x.mean")
    end = reference.index("\n\n\n", start)
    source = reference[:start] + GROUP_NORM + reference[end:]
    if "import torch.nn.functional as F" not in source:
        source = "import torch.nn.functional as F\n" + source
    printed = _test(tmp_path, registry, "block", source)
    assert "uses no forbidden built-in" in printed and "torch.nn.functional.group_norm" in printed
