"""`challenge dev ...`: maintainer tooling (the learner never needs it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from challenge.commands.options import JsonOpt
from challenge.dev.catalogue import Entry
from challenge.dev.check import DEFAULT_SEED, DevCheckReport, dev_check
from challenge.dev.scaffold import new_milestone
from challenge.errors import UsageError
from challenge.output import out
from milestones import load_registry

app = typer.Typer(help="Maintainer tooling: check the milestones' stubs, references and mutation catalogues; "
                       "scaffold a new milestone.",
                  no_args_is_help=True, add_completion=False)

STATUS = {"ok": "[green]ok[/green]", "fail": "[bold red]FAIL[/bold red]", "warn": "[yellow]warn[/yellow]",
          "skip": "[yellow]skip[/yellow]"}


@app.command("check")
def check(
    milestone: Annotated[Optional[str], typer.Argument(help="Milestone id, folder or number; default: all.",
                                                       show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first run (shapes and values of the hidden tests).")
                    ] = DEFAULT_SEED,
    seeds: Annotated[int, typer.Option("--seeds", help="Run every entry under this many seeds: seed, seed+1, ...")] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Prove the hidden tests tell right from wrong: the stub fails, the reference passes, every mutant fails and
    is named, every alternative passes.

    Each entry is one sandboxed run of the hidden tests (a few seconds per seed).

    Exit status: 0 all checks passed, 1 something is wrong, 2 misuse.

    Examples:
      challenge dev check attention
      challenge dev check --seeds 3
      challenge dev check 2 --seed 7 --json
    """
    if seeds < 1:
        raise UsageError("--seeds counts the seeds to run, at least 1.", "Example: --seeds 3")
    registry = load_registry()
    chosen = [registry.get(milestone)] if milestone else list(registry.milestones)
    with out.err_console.status("dev check ...") as status:
        def progress(entry: Entry) -> None:
            status.update(f"dev check: {entry.milestone} {escape(entry.label)}")

        report = dev_check(registry=registry, milestones=chosen, seed=seed, n_seeds=seeds, progress=progress)
    if as_json:
        out.json(report.to_dict())
    else:
        render(report)
    raise typer.Exit(0 if report.ok else 1)


@app.command("new")
def new(
    milestone_id: Annotated[str, typer.Argument(metavar="ID", help="The new milestone's id, e.g. rope.",
                                                show_default=False)],
    kind: Annotated[str, typer.Option(help="module: graded by calling the learner's code; "
                                           "training: graded on a trained checkpoint.")] = "module",
    title: Annotated[Optional[str], typer.Option(help="One-line title (default: a TODO).")] = None,
) -> None:
    """Scaffold a new milestone, numbered after the last one, that already runs under `dev check`.

    Writes milestones/NN_ID/ (milestone.yaml marked draft: true, README.md,
    stub.py, reference.py, an empty mutants.yaml, alternatives/ with a .gitkeep),
    the hidden test grader/hidden/NN_ID/test_ID.py, and the milestone's row in
    README.md. `challenge dev check ID` then shows the stub failing, the
    reference passing, and warns that the catalogue is below its minimums
    (8 mutants and 3 alternatives; training: 4 and 1). Replace every TODO(ID),
    add mutants and alternatives, then remove draft: true (CONTRIBUTING.md).

    Examples:
      challenge dev new rope
      challenge dev new distill --kind training --title "Distil the GPT"
    """
    import grader
    from milestones.registry import MILESTONES_DIR

    if not (MILESTONES_DIR.parent / "pyproject.toml").is_file():  # an installed copy: edits there would be lost
        raise UsageError(f"`challenge dev new` writes into the source tree, and {MILESTONES_DIR.parent} is not one.",
                         "Run it from a clone of the repository installed with `pip install -e .`.")
    made = new_milestone(milestone_id=milestone_id, kind=kind, title=title, milestones_root=MILESTONES_DIR,
                         hidden_root=Path(grader.__file__).resolve().parent / "hidden")
    for path in made.files:
        out.text(f"  created {escape(str(path))}")
    if made.readme is not None:
        out.text(f"  added its row to the milestone table of {escape(str(made.readme))}")
    out.success(f"Milestone '{milestone_id}' ({kind}) scaffolded in {escape(str(made.milestone_dir))}.")
    out.text(f"Next: fill in every TODO({milestone_id}), then run `challenge dev check {milestone_id}`.")


def render(report: DevCheckReport) -> None:
    table = Table(title=f"dev check (seeds {', '.join(map(str, report.seeds))})", show_lines=False)
    for column in ("milestone", "item", "expected", "got", "ok"):
        table.add_column(column, overflow="fold")
    for item in report.items:
        table.add_row(item.milestone, escape(item.item), escape(item.expected), escape(item.got), STATUS[item.status])
    out.table(table)
    for item in report.items:
        if item.status in ("fail", "warn"):
            colour = "bold red" if item.status == "fail" else "yellow"
            out.text(f"[{colour}]{escape(item.milestone)} / {escape(item.item)}[/{colour}]"
                     + (f" [dim]({escape(item.description)})[/dim]" if item.description else ""))
            out.text(escape(item.detail or item.got))
            if item.fix:
                out.text(f"  fix: {escape(item.fix)}")
    failed = sum(1 for i in report.items if i.status == "fail")
    skipped = sum(1 for i in report.items if i.status == "skip")
    warned = sum(1 for i in report.items if i.status == "warn")
    tail = "".join([f", {warned} warning{'s' * (warned != 1)}" if warned else "",
                    f", {skipped} skipped" if skipped else ""]) + "."
    if failed:
        out.error(f"{failed} of {len(report.items)} checks failed{tail}")
    else:
        out.success(f"All {len(report.items) - skipped - warned} checks passed{tail}")
