"""`challenge cohort compare | verify | merge`: a whole cohort's bundles, for
programme organisers and hiring teams.

``challenge cohort BUNDLES...`` (the form before the group existed) still
means ``challenge cohort compare BUNDLES...``.
"""

from __future__ import annotations

import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from challenge.commands.options import DocumentFormat
from challenge.output import out

# Measured on the project's machine (README, "Programme organisers"): peak memory of one job's process tree
# (the job, its sandbox, the worker): 0.82 GB RSS over 20 bundles of module milestones, 0.75 GB over 40.
MEMORY_PER_JOB = "about 0.8 GB"


class CohortGroup(TyperGroup):
    """A group that still accepts the old ``challenge cohort BUNDLES...`` as ``compare``."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["compare", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=CohortGroup, no_args_is_help=True, rich_markup_mode="rich",
    help="A whole cohort's bundles: compare the learners' own reports, verify\n"
         "every bundle in parallel or in shards, merge the results into one report.\n\n"
         "challenge cohort BUNDLES... is short for challenge cohort compare BUNDLES...\n\n"
         "Examples:\n"
         "  challenge cohort compare bundles/*.challenge.zip\n"
         "  challenge cohort verify bundles/*.challenge.zip --jobs 2 --output res/\n"
         "  challenge cohort merge res/ --format html --output cohort.html")


BundlesArg = Annotated[list[Path], typer.Argument(help="The learners' bundles (.challenge.zip files or folders).",
                                                  show_default=False)]


class CompareFormat(str, Enum):
    terminal = "terminal"
    md = "md"


@app.command("compare")
def compare(
    bundles: BundlesArg,
    format: Annotated[CompareFormat, typer.Option("--format", "-f", help="terminal or md.")] = CompareFormat.terminal,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the Markdown report here.")] = None,
) -> None:
    """Compare many learners' bundles (nothing in them is run).

    Per milestone: the spread of active time, pass rates, help used and
    calibration; per learner: where they fall. A bundle failing an
    integrity check is left out with the reason. Re-grade them all with
    `challenge cohort verify`.

    Examples:
      challenge cohort compare bundles/*.challenge.zip
      challenge cohort compare bundles/*.zip --format md --output cohort.md
    """
    from challenge.cohort.bundles import load_cohort
    from challenge.cohort.bundle_tables import cohort_markdown, cohort_tables
    from challenge.errors import UsageError
    from challenge.record.storage import write_atomic
    from milestones import load_registry

    found = load_cohort(sources=bundles, registry=load_registry())
    for source, reason in found.excluded:
        out.warn(f"left out {source}: {reason}")
    if not found.learners:
        raise UsageError("None of the bundles could be read.", "Check them one by one with `challenge verify`.")
    if output is not None:
        write_atomic(output, cohort_markdown(found, now=time.time()))
        out.success(f"Cohort report written to {output}")
    elif format is CompareFormat.md:
        out.document(cohort_markdown(found, now=time.time()))
    else:
        for table in cohort_tables(found):
            out.table(table)


@app.command("verify", help=f"""Re-grade many bundles in the sandbox, N at a time.

Each bundle is verified as `challenge verify` would, in its own process
with its own sandboxed workers. At most --jobs run at once, {MEMORY_PER_JOB}
of memory each (measured on module milestones; a training milestone's
worker may take up to its limit, 6 GB): one job per core is about right.
Each bundle gets one results document, <bundle sha256>.json, written
atomically into --output: the `verify --json` document, the learner's
claims and the grader fingerprint (grader version, hidden-test hashes,
options). A bundle already verified there with the same fingerprint is
skipped, so a stopped run resumes where it stopped; a lock file keeps two
runs out of one folder.

--shard I/N takes every N-th bundle, from the I-th, of the bundles sorted
by content hash (sha256): the same on every machine whatever the paths;
the shards are disjoint and together are the whole list. Merge the
shards' folders with `challenge cohort merge`.

A bad bundle (invalid, tampered, hostile) is one row with its own exit
code and reason; the others go on. Exit status, the most serious outcome:
0 every claimed pass verified, 1 a claim did not verify, 2 a bundle is
invalid or tampered, 3 refused (this machine cannot isolate foreign code),
4 a verification crashed or timed out (run again to retry the crashed; --retry-timeouts for the timed out).

Examples:
  challenge cohort verify bundles/*.challenge.zip --jobs 2 --output res/
  challenge cohort verify bundles/*.zip --shard 3/8 --output res-3/
  challenge cohort merge res-*/ --format html --output cohort.html
""")
def verify(
    bundles: BundlesArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="The folder for the results documents (created; "
                                         "reused to resume).", show_default=False)],
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Verifications at once, each its own process.")
                    ] = 1,
    shard: Annotated[Optional[str], typer.Option("--shard", help="I/N: take the I-th of N shards of the bundles "
                                                 "sorted by sha256.", show_default=False)] = None,
    retrain: Annotated[bool, typer.Option("--retrain", help="Also retrain each training milestone (slow).")] = False,
    allow_unisolated: Annotated[bool, typer.Option("--allow-unisolated", help="Run learners' code even where this "
                                                   "machine cannot isolate it. Unsafe.")] = False,
    seed: Annotated[Optional[int], typer.Option(help="Fix the hidden tests' shapes and values.")] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds one bundle may take before its job is "
                                           "killed (it is then 'failed', timed out; a rerun skips it unless "
                                           "--retry-timeouts).")] = 3600,
    retry_timeouts: Annotated[bool, typer.Option("--retry-timeouts", help="Verify again the bundles that timed out "
                                                 "in an earlier run (each may cost --timeout again).")] = False,
) -> None:
    from challenge.bundle.verify import VerifyOptions
    from challenge.cohort.run import verify_cohort
    from challenge.cohort.selection import parse_shard
    from challenge.commands.cohort_progress import ProgressView, summary_lines
    from milestones import load_registry

    chosen = parse_shard(shard) if shard else None
    with ProgressView(out.err_console) as view:
        summary = verify_cohort(sources=bundles, output=output, registry=load_registry(), jobs=jobs, shard=chosen,
                                options=VerifyOptions(retrain=retrain, allow_unisolated=allow_unisolated, seed=seed),
                                timeout_s=timeout, observer=view, retry_timeouts=retry_timeouts)
    for line in summary_lines(summary):
        out.text(line)
    raise typer.Exit(summary.exit_code)



@app.command("merge")
def merge(
    folders: Annotated[list[Path], typer.Argument(help="--output folders of `cohort verify` runs (or documents).",
                                                  show_default=False)],
    format: Annotated[Optional[DocumentFormat], typer.Option("--format", "-f", help="terminal, md, html or json "
                                                          "(default: from --output's suffix, else terminal).",
                                                          show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report to this file.")] = None,
) -> None:
    """Merge `cohort verify` results (shards) into one cohort report.

    Per learner: what their log claims and what verified here. Per
    milestone: claimed passes verified, the time of those who passed
    against the challenge's targets, calibration across the cohort, where
    each learner falls, similar code. Documents are keyed by bundle sha256:
    overlapping shards or a folder given twice count once. The JSON has no
    timestamps: the same documents always merge to the same bytes.

    Exit status, the most serious outcome (as `cohort verify`): 0 all
    verified, 1 a claim did not verify, 2 a bundle is invalid, 3 refused,
    4 a verification failed.

    Examples:
      challenge cohort merge results/
      challenge cohort merge shard-1/ shard-2/ shard-3/ --output cohort.html
      challenge cohort merge results/ --format json --output cohort.json
    """
    from challenge.cohort.merge import merge_results
    from challenge.cohort.render import render_html, render_json, render_markdown, section_tables
    from challenge.record.storage import write_atomic
    from milestones import load_registry

    merged = merge_results(folders=folders, registry=load_registry())
    for file, reason in merged.unreadable:
        out.warn(f"left out {file}: {reason}")
    for conflict in merged.conflicts:
        out.warn(conflict)
    if merged.duplicates:
        out.err_console.print(f"[dim]{merged.duplicates} duplicate document(s) of bundles already read were "
                              "counted once.[/dim]")
    chosen = format.value if format else (_suffix_format(output) if output else "terminal")
    if chosen == "terminal" and output is None:
        for table in section_tables(merged):
            out.table(table)
    else:
        chosen = "md" if chosen == "terminal" else chosen
        text = {"md": render_markdown, "html": render_html, "json": render_json}[chosen](merged)
        if output is None:
            out.document(text)
        else:
            write_atomic(output, text)
            out.success(f"Cohort report ({len(merged.rows)} bundles) written to {output}")
    raise typer.Exit(merged.exit_code)


def _suffix_format(path: Path) -> str:
    return {".html": "html", ".htm": "html", ".json": "json"}.get(path.suffix.lower(), "md")
