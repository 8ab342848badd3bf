"""What `challenge cohort verify` shows while it runs: a rich progress bar
(done / total, the outcomes so far, elapsed and remaining time, the bundles
being verified now) and one line per finished bundle; then a summary.

It implements ``challenge.cohort.run.Observer``. Bundle names are the
organiser's paths; handles and reasons come from bundles and are escaped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import TimeRemainingColumn

from challenge.cohort.run import Row, RunSummary
from challenge.cohort.selection import BundleFile
from challenge.output import untrusted

STYLE = {"verified": "green", "not verified": "red", "invalid": "red", "refused": "magenta", "failed": "magenta"}
MARK = {"verified": "✓", "not verified": "✗", "invalid": "✗", "refused": "!", "failed": "!"}


def _name(bundle: BundleFile) -> str:
    return untrusted(Path(bundle.path).name)


class ProgressView:
    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(SpinnerColumn(), TextColumn("[bold]verifying[/bold]"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn("{task.fields[outcomes]}"), TimeElapsedColumn(),
                                 TextColumn("eta"), TimeRemainingColumn(), TextColumn("[dim]{task.fields[now]}"),
                                 console=console, transient=False)
        self.task = None
        self.outcomes: Counter[str] = Counter()
        self.running: list[str] = []

    def __enter__(self) -> "ProgressView":
        return self

    def __exit__(self, *exc) -> None:
        if self.task is not None:
            self.progress.stop()

    def planned(self, *, todo: int, skipped: Sequence[Row]) -> None:
        if skipped:
            self.console.print(f"[dim]{len(skipped)} bundle(s) already verified with this grader: skipped.[/dim]")
        self.outcomes.update(row.document.outcome for row in skipped)
        if todo:
            self.task = self.progress.add_task("verify", total=todo, outcomes=self._outcomes(), now="")
            self.progress.start()

    def started(self, bundle: BundleFile) -> None:
        self.running.append(_name(bundle))
        self._refresh()

    def finished(self, row: Row) -> None:
        name = _name(row.bundle)
        if name in self.running:
            self.running.remove(name)
        document = row.document
        self.outcomes[document.outcome] += 1
        style = STYLE.get(document.outcome, "white")
        handle = (document.claims.handle if document.claims else "") or ""
        who = f" ({untrusted(handle)})" if handle else ""
        self.progress.console.print(
            f"[{style}]{MARK.get(document.outcome, '?')} {document.outcome}[/{style}] {name}{who} "
            f"[dim]{document.duration_s:.0f} s: {untrusted(document.reason, limit=160)}[/dim]")
        self.progress.advance(self.task)
        self._refresh()

    def _outcomes(self) -> str:
        return ", ".join(f"[{STYLE.get(o, 'white')}]{n} {o}[/]" for o, n in sorted(self.outcomes.items()))

    def _refresh(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, outcomes=self._outcomes(), now=", ".join(self.running)[:60])


def summary_lines(summary: RunSummary) -> list[str]:
    """The counts, the bundles that need a look, and where the results are (rich markup)."""
    shard = f" (shard {summary.shard} of {summary.given} bundles)" if summary.shard else ""
    counts = ", ".join(f"[{STYLE[o]}]{summary.count(o)} {o}[/]" for o in STYLE if summary.count(o))
    lines = [f"{len(summary.rows)} bundles{shard}: {counts or 'none'}; {summary.skipped} skipped as already verified."]
    for row in summary.rows:
        if row.document.outcome != "verified":
            lines.append(f"  [{STYLE[row.document.outcome]}]{row.document.outcome} ({row.document.exit_code})[/] "
                         f"{_name(row.bundle)}: {untrusted(row.document.reason)}")
    lines.append(f"[dim]Results in {untrusted(summary.output)}; the report: challenge cohort merge "
                 f"{untrusted(summary.output)} --format html --output cohort.html[/dim]")
    return lines
