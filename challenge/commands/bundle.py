"""`challenge submit`, `verify` and `show`: the bundle a learner sends and what
its receivers do with it (a whole cohort: ``challenge.commands.cohort``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from challenge.commands.options import DocumentFormat, JsonOpt, WorkspaceOpt
from challenge.output import out

BundleArg = Annotated[Path, typer.Argument(help="A .challenge.zip file (or a folder made with submit --export-dir).",
                                           show_default=False)]


def submit(
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Where to write the zip (a file or a folder). Default: ./HANDLE-DATE.challenge.zip")
    ] = None,
    export_dir: Annotated[Optional[Path], typer.Option("--export-dir", help="Also (or, without --output, only) write "
                                                       "the same content as a folder to push as a GitHub repository; "
                                                       "its README is your report.")] = None,
    accept_log_loss: Annotated[bool, typer.Option("--accept-log-loss", help="Submit even though events are missing "
                                                  "from your event log (cut off or deleted); the loss is recorded in "
                                                  "the bundle and shown to the receiver.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write one bundle to send to an employer (they re-grade it with `challenge verify`).

    The bundle holds your code for every started milestone, checkpoints, every results
    document, the event log, the report (md, html, json) and a manifest with the sha256
    of every file.

    Examples:
      challenge submit
      challenge submit --output ~/ada.challenge.zip
      challenge submit --export-dir ../ada-transformers
    """
    from challenge.bundle.pack import submit as write_bundle
    from challenge.commands.context import open_context

    ctx = open_context(workspace)
    result = write_bundle(workspace=ctx.workspace, registry=ctx.registry, output=output, export_dir=export_dir,
                          accept_log_loss=accept_log_loss)
    for loss in result.manifest.event_log.losses:
        out.warn(f"recorded in the bundle: events lost from your log ({loss})")
    for milestone in result.in_progress:
        out.warn(f"'{milestone}' is in progress: it goes in the bundle as not passed.")
    for warning in result.warnings:
        out.warn(warning)
    size = len(result.manifest.files) + 1
    if result.zip_path:
        out.success(f"Bundle written to {result.zip_path} ({size} files; passed: {', '.join(result.passed)}).")
    if result.export_dir:
        out.success(f"Folder written to {result.export_dir} (README.md is your report): "
                    f"cd {result.export_dir} && git init && git add . && git commit -m 'challenge submission'")
    out.text("[dim]The receiver checks it with: challenge verify "
             f"{result.zip_path.name if result.zip_path else result.export_dir}[/dim]")


def verify(
    bundle: BundleArg,
    as_json: JsonOpt = False,
    retrain: Annotated[bool, typer.Option("--retrain", help="Also re-run the learner's training (within its budget, "
                                          "in CPU seconds: a busy machine takes longer, not less training) "
                                          "and grade the retrained model.")] = False,
    allow_unisolated: Annotated[bool, typer.Option("--allow-unisolated", help="Run the learner's code even where this "
                                                   "machine cannot isolate it (no network namespace or Landlock). "
                                                   "Unsafe for code you do not trust.")] = False,
    seed: Annotated[Optional[int], typer.Option(help="Fix the hidden tests' shapes and values (default: fresh).")
                    ] = None,
) -> None:
    """Check a bundle and re-grade every milestone in the sandbox with your own grader.

    Integrity first (safe extraction, manifest and sha256 of every file, the event
    log's hash chain); then the learner's code runs in the sandbox (no network, no
    access to your files) against this machine's hidden tests. Results documents in
    the bundle are never trusted. Per milestone it also shows how much of the code is
    shared with the reference solution (read as text, nothing runs).

    It proves the code passes here and the bundle is consistent as packed; it cannot
    prove who wrote the code, nor that the time, attempts and help are complete (they
    are the learner's own record).

    Exit status: 0 every claimed pass verified, 1 a claim did not verify,
    2 the bundle is invalid or tampered (nothing was run), 3 refused: this machine
    cannot isolate foreign code (see --allow-unisolated).

    Examples:
      challenge verify ada-2026-05-01.challenge.zip
      challenge verify ada-2026-05-01.challenge.zip --json
      CHALLENGE_DATA_DIR=data challenge verify ada.challenge.zip --retrain
    """
    from challenge.bundle.render import verification_lines, verification_table
    from challenge.bundle.verify import VerifyOptions, verify_bundle
    from milestones import load_registry

    def progress(milestone: str) -> None:
        out.err_console.print(f"[dim]Re-grading {out.untrusted(milestone)} in the sandbox ...[/dim]")

    verification = verify_bundle(source=bundle, registry=load_registry(), on_milestone=progress,
                                 options=VerifyOptions(retrain=retrain, allow_unisolated=allow_unisolated, seed=seed))
    if as_json:
        out.json(verification.to_dict())
    else:
        if verification.milestones and not verification.problems:
            out.table(verification_table(verification, with_retrain=retrain))
        for warning in verification.warnings:
            out.warn(warning)
        for line in verification_lines(verification):
            out.text(line)
    raise typer.Exit(verification.exit_code)



def show(
    bundle: BundleArg,
    format: Annotated[DocumentFormat, typer.Option("--format", "-f", help="terminal, md, html or json.")
                      ] = DocumentFormat.terminal,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file instead.")] = None,
) -> None:
    """Show a bundle's report without running any of its code.

    The report is rebuilt from the bundle's checked event log, as of the time it
    was submitted. Use `challenge verify` to re-grade the code.

    Examples:
      challenge show ada-2026-05-01.challenge.zip
      challenge show ada-2026-05-01.challenge.zip --format html --output ada.html
    """
    from challenge.bundle.show import show_bundle
    from challenge.report import render_text, write_report
    from milestones import load_registry

    shown = show_bundle(source=bundle, registry=load_registry())
    for warning in shown.warnings:
        out.warn(warning)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(shown.created_at))
    out.err_console.print(f"[dim]Bundle of {out.untrusted(shown.handle)}, submitted {stamp}; integrity checks passed; "
                          "nothing in it was run (re-grade with challenge verify).[/dim]")
    if output is not None:
        written = write_report(shown.report, fmt=format.value, output=output)
        out.success(f"Report written to {written[0]}")
    elif format is DocumentFormat.terminal:
        from challenge.report.render_terminal import render_terminal

        out.renderable(render_terminal(shown.report))
    else:
        out.document(render_text(shown.report, format.value))
