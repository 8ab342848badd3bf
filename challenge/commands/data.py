"""`challenge data ...`: the training data sets, fetched once or imported from a local copy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape
from rich.table import Table

from challenge.commands.options import JsonOpt
from challenge.data import Installed, data_status, fetch_data, import_data
from challenge.errors import FETCH_COMMAND, IMPORT_COMMAND
from challenge.output import out
from milestones import load_registry
from milestones.corpora import CACHE_DIR_ENV, DATA_DIR_ENV

app = typer.Typer(
    help="The training data sets (rt_polarity for the classifier, ag_news for BERT and GPT): fetch them once, "
         "import a local copy, see what is where.",
    no_args_is_help=True, add_completion=False)


@app.command("fetch")
def fetch(
    names: Annotated[Optional[list[str]], typer.Argument(help="rt_polarity and/or ag_news; default: both.",
                                                         show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Download again even if the cache has it.")] = False,
) -> None:
    """Download the data sets once from the Hugging Face hub into the cache folder (original formats).

    Offline it stops at once and says how to import a local copy instead. The cache folder is
    $CHALLENGE_DATA_CACHE, else $XDG_CACHE_HOME/challenge/data, else ~/.cache/challenge/data.

    Examples:
      challenge data fetch
      challenge data fetch rt_polarity
      CHALLENGE_DATA_CACHE=/big/disk/challenge challenge data fetch --force
    """
    _report(fetch_data(names=list(names or []), force=force, say=out.text))


@app.command("import")
def import_(
    folder: Annotated[Path, typer.Argument(help="A folder with rt-polarity/ and/or ag_news/ in the original formats.",
                                           show_default=False)],
) -> None:
    """Check a local copy of the data sets and copy it into the cache folder.

    The folder holds rt-polarity/rt-polarity.pos and .neg (one sentence per line) and/or
    ag_news/train.csv and test.csv (no header: class 1-4, title, description). The names the
    original downloads unpack to (rt-polaritydata/, ag_news_csv/) are accepted too. Every file
    is read as the loaders would read it; one bad file stops the import before anything is copied.

    Examples:
      challenge data import ~/Downloads/data
      challenge data import ../shared/data
    """
    _report(import_data(source_dir=folder))


@app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Which data sets are here, where, how many rows, and which milestones they serve.

    Examples:
      challenge data status
      challenge data status --json
    """
    report = data_status(registry=load_registry())
    if as_json:
        out.json(report.to_dict())
        return
    table = Table(title="training data")
    for column in ("data set", "milestones", "rows", "used from"):
        table.add_column(column, overflow="fold")
    for corpus in report.corpora:
        check = next((check for place, check in corpus.checks if place == corpus.used), None)
        if corpus.used is not None and check is not None:
            rows = " + ".join(f"{count:,}" for count in check.rows.values()) if check.ok else ""
            where = f"{escape(str(check.folder))} [dim]({corpus.used.label})[/dim]"
            if not check.ok:
                where = f"[red]cannot load[/red] {where}"
        else:
            rows, where = "", "[yellow]missing[/yellow]"
            if not report.problem:
                where += ": the loaders will try the Hugging Face hub"
        table.add_row(corpus.name, ", ".join(corpus.milestones), rows, where)
    out.table(table)
    for corpus in report.corpora:
        for place, check in corpus.checks:
            if check is not None and not check.ok:
                out.warn(f"{corpus.name} in the {place.label} cannot be used: {escape(check.problem or '')}")
    if report.problem:
        out.warn(escape(report.problem))
    out.text(f"{DATA_DIR_ENV}: {escape(report.data_dir) if report.data_dir else 'not set'} (searched first)")
    out.text(f"cache folder: {escape(str(report.cache))} (set {CACHE_DIR_ENV} to move it)")
    if report.computed:
        out.text(f"computed, nothing to download: {', '.join(report.computed)}")
    if any(corpus.used is None for corpus in report.corpora):
        out.text(f"Get what is missing: [bold]{FETCH_COMMAND}[/bold] (online) or [bold]{IMPORT_COMMAND}[/bold]")


def _report(installed: list[Installed]) -> None:
    for item in installed:
        rows = ", ".join(f"{name} {count:,} rows" for name, count in item.rows.items())
        out.success(f"{item.name}: {item.action} ({rows}) in {escape(str(item.folder))}")
    out.text("Next: [bold]challenge data status[/bold] shows which milestones they serve.")
