"""The `challenge` command line: a registry of commands, nothing else.

Each command lives in its own module under ``challenge.commands``; this file
wires them and turns known errors into a message and a hint (see
``challenge.errors``). Set ``CHALLENGE_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import typer

from challenge import __version__
from challenge.commands import assist, bundle, clock, cohort, demo, dev, grading, reflect, report, training, workspace
from challenge.commands import data as data_command
from challenge.commands import viz as viz_command
from challenge.errors import render_error
from challenge.output import out

app = typer.Typer(
    name="challenge",
    help="The transformer-from-scratch calibration challenge: build attention, multi-head attention, a "
    "transformer block, a classifier, BERT and GPT from scratch, graded by hidden tests in a sandbox, "
    "timed against the challenge's targets, with an honest self-calibration report.\n\n"
    "Start: challenge init --handle NAME, then challenge start attention.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        out.text(f"challenge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    pass


app.command("demo")(demo.demo)
app.command("init")(workspace.init)
app.command("list")(workspace.list_milestones)
app.command("status")(workspace.status)
app.command("start")(clock.start)
app.command("predict")(clock.predict)
app.command("pause")(clock.pause)
app.command("resume")(clock.resume)
app.command("log-time")(clock.log_time)
app.command("test")(grading.test)
app.command("watch")(grading.watch)
app.command("train")(training.train)
app.command("viz")(viz_command.viz)
app.command("hint")(assist.hint)
app.command("peek")(assist.peek)
app.add_typer(data_command.app, name="data")
app.add_typer(dev.app, name="dev")
app.command("reflect")(reflect.reflect)
app.command("report")(report.report)
app.command("submit")(bundle.submit)
app.command("verify")(bundle.verify)
app.command("show")(bundle.show)
app.add_typer(cohort.app, name="cohort")


def _click_exceptions() -> tuple[type[Exception], ...]:
    """Click's usage errors; recent typer versions vendor their own copy of click (and click itself
    is then only there if another package brings it)."""
    kinds: list[type[Exception]] = []
    try:
        import click

        kinds.append(click.ClickException)
    except ImportError:
        pass
    try:
        from typer._click.exceptions import ClickException as VendoredClickException

        kinds.append(VendoredClickException)
    except ImportError:
        pass
    return tuple(kinds)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, map known errors to messages and exit codes."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None, *, action: Callable[[], object] | None = None,
        prog_name: str | None = None) -> int:
    """``main`` without the exit: the exit code, after printing what went wrong (the notebook's magics use it).

    ``action``: something to do instead of running ``argv`` (a magic that checks a cell before its command),
    under the same mapping of errors to messages.
    """
    try:
        code = action() if action is not None else app(args=argv, standalone_mode=False, prog_name=prog_name)
    except typer.Exit as done:  # typer.Exit(n) comes back as n from app(); an action may raise it
        return done.exit_code
    except (typer.Abort, KeyboardInterrupt):
        out.error("Interrupted.")
        return 130
    except Exception as error:  # noqa: BLE001 - the one place that turns errors into messages
        if isinstance(error, _click_exceptions()):  # bad options or arguments: click's own message, exit 2
            error.show()
            return error.exit_code
        message = render_error(error)
        if message is None or os.environ.get("CHALLENGE_DEBUG") == "1":
            if message is not None:
                out.error(message.message, message.hint)
            raise
        out.error(message.message, message.hint)
        out.err_console.print("[dim](set CHALLENGE_DEBUG=1 for the traceback)[/dim]")
        return message.exit_code
    return code if isinstance(code, int) else 0
