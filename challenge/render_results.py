"""Rendering a results document in the terminal (rich): one line per test,
failures expanded with message, hint and output, then a summary."""

from __future__ import annotations

from functools import partial

from rich.panel import Panel

from challenge.output import Output, untrusted
from challenge.report.curves import parse_curve, sparkline, terminal_lines

# Names, messages and the learner's captured output may hold anything their code printed.
escape = partial(untrusted, multiline=True)

ICON = {"pass": "[green]✓[/green]", "fail": "[red]✗[/red]", "error": "[magenta]![/magenta]"}


def render_run(out: Output, result, *, milestone_id: str) -> None:
    if result.status == "error" and not result.tests:
        out.renderable(Panel(escape(result.message or "The run failed before any test ran."),
                             title=f"[bold red]{milestone_id}: could not run your code[/bold red]", expand=False))
        return
    previous = None
    for test in result.tests:
        out.text(f"{ICON.get(test.status, '?')} {escape(test.name)} [dim]{test.duration_s:.2f}s[/dim]")
        if test.status == "pass":
            continue
        if test.message == previous:
            out.text("  [dim](the same as above)[/dim]")
            continue
        previous = test.message
        body = escape(test.message)
        if test.hint:
            body += f"\n[bold]hint:[/bold] {escape(test.hint)}"
        if test.output:
            body += f"\n[dim]your output:[/dim]\n[dim]{escape(test.output)}[/dim]"
        out.renderable(Panel(body, border_style="red" if test.status == "fail" else "magenta", expand=False))
    for key, value in result.metrics.items():
        curve = parse_curve(key, value)  # a judged curve (accuracy per position): drawn as bars
        for line in terminal_lines(curve) if curve else [f"[bold]{escape(key)}[/bold]: {escape(str(value))}"]:
            out.text(f"  {line}")
    for example in result.examples[:5]:
        out.text("  [dim]" + escape(" | ".join(f"{k}: {v}" for k, v in example.items())) + "[/dim]")
    failed = len(result.tests) - result.passed
    summary = f"{result.passed}/{len(result.tests)} passed"
    if result.status == "pass":
        out.text(f"\n[bold green]{milestone_id} passed[/bold green] ({summary}, {result.duration_s:.1f}s).")
    else:
        out.text(f"\n[bold red]{milestone_id}: {failed} not passing[/bold red] ({summary}, {result.duration_s:.1f}s). "
                 f"Reproduce this run exactly with --seed {result.seed}.")
    if result.builtins_used:
        out.text(f"[dim]Built-ins used: {', '.join(result.builtins_used)}[/dim]")
    if not result.sandbox.get("isolated", False):
        out.text("[yellow]Note: this run was not fully isolated: "
                 f"network {result.sandbox.get('network')}, filesystem {result.sandbox.get('filesystem')}.[/yellow]")


def render_summary(out: Output, result, *, label: str) -> None:
    """One line for a run, plus the first failure's message and hint (for the demo)."""
    status = {"pass": "[green]passed[/green]", "fail": "[red]failed[/red]"}.get(result.status, "[magenta]error[/magenta]")
    out.text(f"    {label}: {status} {result.passed}/{len(result.tests)} tests")
    failure = next((t for t in result.tests if t.status != "pass"), None)
    if failure is not None:
        out.text(f"      [dim]{escape(failure.name)}[/dim]")
        out.text("      " + escape(failure.message).replace("\n", "\n      "))
        if failure.hint:
            out.text(f"      [bold]hint:[/bold] {escape(failure.hint)}")
    for key, value in result.metrics.items():
        curve = parse_curve(key, value)
        out.text(f"      {escape(key)}: {sparkline(curve) if curve else escape(str(value))}")
