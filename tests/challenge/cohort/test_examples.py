"""The shipped examples for engines a programme already runs: the GitHub Actions
workflow and the README's Slurm job array cut the same shards `--shard` takes,
keep one artefact per shard, and merge them all."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from challenge.cohort.selection import parse_shard

REPO = Path(__file__).resolve().parents[3]
WORKFLOW = REPO / ".github" / "workflows" / "verify-cohort.yml"


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _run_lines(steps: list[dict]) -> str:
    return "\n".join(step.get("run", "") for step in steps)


def test_the_workflow_runs_every_shard_once_and_each_uploads_its_own_artefact():
    workflow = _workflow()
    verify = workflow["jobs"]["verify"]
    shards = verify["strategy"]["matrix"]["shard"]
    count = int(workflow["env"]["SHARDS"])
    assert sorted(shards) == list(range(1, count + 1))  # the matrix and SHARDS agree: no shard left out
    for index in shards:
        assert parse_shard(f"{index}/{count}").index == index
    assert verify["strategy"]["fail-fast"] is False  # one bad shard does not cancel the others
    script = _run_lines(verify["steps"])
    assert "challenge cohort verify" in script
    assert "--shard ${{ matrix.shard }}/${{ env.SHARDS }}" in script
    assert "--output results/shard-${{ matrix.shard }}" in script
    assert "${{ inputs.bundles }}" not in script  # an input is never pasted into a shell script
    [upload] = [s for s in verify["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload["with"]["name"] == "cohort-shard-${{ matrix.shard }}"
    assert upload["with"]["path"].startswith("results/shard-${{ matrix.shard }}/")
    assert upload["if"] == "always()"


def test_the_workflow_merges_every_shards_artefact_even_after_a_failed_shard():
    merge = _workflow()["jobs"]["merge"]
    assert merge["needs"] == "verify" and merge["if"] == "always()"
    [download] = [s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact")]
    assert download["with"]["pattern"] == "cohort-shard-*" and download["with"]["path"] == "shards"
    script = _run_lines(merge["steps"])
    for fmt in ("md", "html", "json"):
        assert f"challenge cohort merge shards/* --format {fmt}" in script


def _readme_cohort_section() -> str:
    text = (REPO / "README.md").read_text()
    return text.split("## Programme organisers: verify a whole cohort", 1)[1].split("\n## ", 1)[0]


def test_the_readme_slurm_array_takes_one_shard_per_task_and_merges_after_any_outcome():
    section = _readme_cohort_section()
    array = re.search(r"sbatch --array=(\d+)-(\d+) verify-cohort\.sbatch", section)
    assert array and int(array.group(1)) == 1  # --shard is 1-based: the task ids must start at 1
    assert '--shard "$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"' in section
    assert '--output "/shared/results/shard-$SLURM_ARRAY_TASK_ID"' in section
    assert "--dependency=afterany:" in section and "challenge cohort merge /shared/results/shard-*" in section


def test_the_readme_has_no_placeholder_left():
    assert not re.search(r"@[A-Z]+@|figures to come", _readme_cohort_section())
