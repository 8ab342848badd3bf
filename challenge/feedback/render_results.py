"""Rendering a results document in the terminal (rich), grouped by what is wrong.

One box per distinct diagnosis (the mistake, the evidence, the tests it
explains), then one box per test family the judge could not diagnose (one
example each), then the counts, and last the first thing to fix with the next
command. A catalogued mistake fits on one screen. ``verbose`` adds every
failing test's own box, as ``challenge test --verbose`` asks.
"""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path

from rich.panel import Panel

from challenge.feedback.failure_groups import FailureGroup, family_title, first_to_fix, group_failures
from challenge.output import Output, untrusted
from challenge.report.curves import parse_curve, sparkline, terminal_lines
from grader.results import RunResult

# Names, messages and the learner's captured output may hold anything their code printed.
escape = partial(untrusted, multiline=True)

ICON = {"pass": "[green]✓[/green]", "fail": "[red]✗[/red]", "error": "[magenta]![/magenta]"}
BORDER = {"fail": "red", "error": "magenta"}
EXAMPLE_LINES = 2  # lines of an example's message (what differs, and how) and of the learner's output; --verbose: all
TESTS_SHOWN = 12  # families listed in a diagnosis' box before "and N more"


def render_run(out: Output, result: RunResult, *, milestone_id: str, next_command: str, verbose: bool = False,
               results_file: Path | None = None) -> None:
    """The run, grouped; the last line names the first thing to fix and ``next_command``."""
    if result.status == "error" and not result.tests:
        out.renderable(Panel(escape(result.message or "The run failed before any test ran."),
                             title=f"[bold red]{milestone_id}: could not run your code[/bold red]", expand=False))
        _saved(out, results_file)
        out.text(f"[bold]Fix first:[/bold] your file must load (see above). Then: [bold]{next_command}[/bold]")
        return
    groups = group_failures(result.tests)
    for group in groups:
        out.renderable(_box(group, verbose=verbose))
    if verbose:
        _every_test(out, result)
    for key, value in result.metrics.items():
        curve = parse_curve(key, value)  # a judged curve (accuracy per position): drawn as bars
        for line in terminal_lines(curve) if curve else [f"[bold]{escape(key)}[/bold]: {escape(str(value))}"]:
            out.text(f"  {line}")
    for example in result.examples[:5]:
        out.text("  [dim]" + escape(" | ".join(f"{k}: {v}" for k, v in example.items())) + "[/dim]")
    total = len(result.tests)
    took = f"{result.duration_s:.1f}s"
    if result.status == "pass":
        out.text(f"[bold green]{milestone_id} passed[/bold green] ({result.passed}/{total} tests, {took}).")
    else:
        reasons = len(groups)
        out.text(f"[bold red]{milestone_id}: {total - result.passed} of {total} tests not passing[/bold red], "
                 f"{_reasons(groups)} ({took}). Same run again: --seed {result.seed}."
                 + ("" if verbose or reasons == 0 else " Every test: --verbose."))
    if result.builtins_used:
        out.text(f"[dim]Built-ins used: {', '.join(result.builtins_used)}[/dim]")
    if not result.sandbox.get("isolated", False):
        out.text("[yellow]Note: this run was not fully isolated: "
                 f"network {result.sandbox.get('network')}, filesystem {result.sandbox.get('filesystem')}.[/yellow]")
    _saved(out, results_file)
    first = first_to_fix(groups)
    if first is not None:
        out.text(f"[bold]Fix first:[/bold] {escape(_sentence(first.title))} Then: [bold]{next_command}[/bold]")


def _reasons(groups: list[FailureGroup]) -> str:
    diagnosed = sum(1 for g in groups if g.diagnosed)
    unexplained = len(groups) - diagnosed
    parts = []
    if diagnosed:
        parts.append(f"{diagnosed} mistake{'s' if diagnosed != 1 else ''} found")
    if unexplained:
        parts.append(f"{unexplained} {'other ' if diagnosed else ''}group{'s' if unexplained != 1 else ''} "
                     "without a diagnosis")
    return ", ".join(parts)


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _saved(out: Output, results_file: Path | None) -> None:
    if results_file is not None:
        path = Path(str(results_file))
        with contextlib.suppress(ValueError):  # shorter where it is under the current folder
            path = path.resolve().relative_to(Path.cwd().resolve())
        out.text(f"[dim]Results: {escape(str(path))}[/dim]")


def _box(group: FailureGroup, *, verbose: bool) -> Panel:
    count = len(group.tests)
    example = group.example
    lines = [f"[bold]{count} test{'s' if count != 1 else ''}: {escape(group.title)}[/bold]"]
    if group.diagnosed:
        if group.evidence:
            lines.append(f"[bold]evidence:[/bold] {escape(group.evidence)}")
        lines += _example(example, verbose=verbose)
        lines.append(f"[bold]tests:[/bold] {escape(_families(group, verbose=verbose))}")
        label = escape(group.mistake) or "diagnosis"
    elif len(group.families()) > 1:  # families sharing one hint: the hint is the headline
        lines += _example(example, verbose=verbose)
        lines.append(f"[bold]tests:[/bold] {escape(_families(group, verbose=verbose))}")
        label = "no diagnosis; the same hint"
    else:
        lines += _example(example, verbose=verbose, short=True)
        if example.hint:
            lines.append(f"[bold]hint:[/bold] {escape(example.hint)}")
        label = "no diagnosis"
    if example.output and not group.diagnosed:
        lines.append("[dim]your output:[/dim]")
        lines += [f"[dim]{line}[/dim]" for line in _indented(example.output, verbose=verbose)]
    return Panel("\n".join(lines), title=f"[{BORDER[group.status]}]{label}[/]", title_align="left",
                 border_style=BORDER[group.status], expand=False)


def _example(test, *, verbose: bool, short: bool = False) -> list[str]:
    """'e.g. NAME:' and the first lines of its message; ``short``: the name less its family (the box's title)."""
    name = test.name
    if short:
        name = name[len(family_title(test)):].strip()
    lines = _indented(test.message, verbose=verbose)
    if name:
        lines.insert(0, f"[dim]e.g.[/dim] {escape(name)}:")
    return lines


def _indented(text: str, *, verbose: bool) -> list[str]:
    lines = [line for line in str(text or "").splitlines() if line.strip()]
    return ["  " + escape(line.strip()) for line in (lines if verbose else lines[:EXAMPLE_LINES])]


def _families(group: FailureGroup, *, verbose: bool) -> str:
    families = group.families()
    shown = families if verbose else families[:TESTS_SHOWN]
    text = " · ".join(f"{name} ×{n}" if n > 1 else name for name, n in shown)
    if len(shown) < len(families):
        text += f" · and {len(families) - len(shown)} more"
    return text


def _every_test(out: Output, result) -> None:
    """Every test on its own line, and every failure in its own box (``--verbose``).

    The grouped boxes above show a hint only where the judge has no diagnosis; so does this list. A diagnosed
    test's fix is left out: --verbose shows more evidence, never help that would bypass `challenge hint`
    (which logs what it shows as help used).
    """
    out.text("[bold]Every test[/bold] [dim](fixes for diagnosed mistakes are not shown: `challenge hint` unlocks "
             "a hint aimed at them, logged as help used)[/dim]:")
    for test in result.tests:
        out.text(f"{ICON.get(test.status, '?')} {escape(test.name)} [dim]{test.duration_s:.2f}s[/dim]")
        if test.status == "pass":
            continue
        body = escape(test.message)
        if test.diagnosis is not None and (test.diagnosis.summary or test.diagnosis.mistake):
            body += f"\n[bold]diagnosis:[/bold] {escape(test.diagnosis.summary or test.diagnosis.mistake)}"
        elif test.hint:
            body += f"\n[bold]hint:[/bold] {escape(test.hint)}"
        if test.output:
            body += f"\n[dim]your output:[/dim]\n[dim]{escape(test.output)}[/dim]"
        out.renderable(Panel(body, border_style=BORDER.get(test.status, "magenta"), expand=False))


def render_summary(out: Output, result, *, label: str) -> None:
    """One line for a run, plus the first failure's diagnosis (else its message) and hint (for the demo)."""
    status = {"pass": "[green]passed[/green]", "fail": "[red]failed[/red]"}.get(result.status,
                                                                             "[magenta]error[/magenta]")
    total = len(result.tests)
    counted = f"{status} {result.passed}/{total} tests" if result.status == "pass" else \
        f"{status}: {total - result.passed} of {total} tests not passing"
    out.text(f"    {label}: {counted}")
    failure = next((t for t in result.tests if t.status != "pass"), None)
    if failure is not None and failure.diagnosis is not None and failure.diagnosis.summary:
        found = failure.diagnosis
        explained = sum(1 for t in result.tests if t.diagnosis is not None and t.diagnosis.mistake == found.mistake)
        out.text(f"      [bold]mistake found[/bold] ({explained} test{'s' if explained != 1 else ''}): "
                 f"{escape(found.summary)}")
        if found.evidence:
            out.text(f"      [dim]evidence: {escape(found.evidence)}[/dim]")
    elif failure is not None:
        out.text(f"      [dim]{escape(failure.name)}[/dim]")
        out.text("      " + escape(failure.message).replace("\n", "\n      "))
    if failure is not None and failure.hint:
        out.text(f"      [bold]hint:[/bold] {escape(failure.hint)}")
    for key, value in result.metrics.items():
        curve = parse_curve(key, value)
        out.text(f"      {escape(key)}: {sparkline(curve) if curve else escape(str(value))}")
