"""``%load_ext challenge``: the CLI's commands as IPython magics.

    %challenge init --handle ada          any command, with the CLI's own flags (the same typer app parses them)
    %challenge start attention --predict-hours 2 --predict-pass 60%
                                          ... and a new cell below gets the stub, under %%challenge test attention
                                          (--no-cell: not; for a notebook that has that cell already)
    %%challenge test attention            the cell is saved as the milestone's file, then graded as
                                          `challenge test attention` grades it (same record, same verdict);
                                          a file changed elsewhere is not overwritten without asking
                                          (--overwrite: without asking)
    %%challenge train gpt                 saved the same way, then trained with the bar in the cell

Output goes through the CLI's one sink (``challenge.output.out``); in a kernel
its consoles are rich's Jupyter consoles, so the cell shows HTML, not escape
codes. Interrupting the kernel raises KeyboardInterrupt in the command, the
same as Ctrl-C in a terminal. The workspace is found as the CLI finds it, from
the notebook's folder (the kernel's working folder); one given with
``--workspace`` is used by the commands after it that do not name one.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from challenge.cli import app, run
from challenge.errors import UsageError

try:  # the `notebook` extra: a plain install has no IPython, and only `%load_ext challenge` comes here
    from IPython.core.error import StdinNotImplementedError
    from IPython.core.magic import Magics, line_cell_magic, magics_class
except ImportError:  # pragma: no cover - exercised by the fast set's install, which has no extra
    raise UsageError("The notebook magics need IPython.", "Install the extra: pip install -e '.[notebook]'") from None
from challenge.notebook.cells import OVERWRITE_FLAG, Ask, remember, save_cell
from challenge.output import out
from challenge.record.workspace import ENV_VAR, find_workspace, is_workspace

PROG = "%challenge"
CELL_COMMANDS = ("test", "train")  # the commands whose milestone file a cell can be
NO_CELL_FLAG = "--no-cell"  # magic only: `start` leaves the next cell alone (a notebook that has its cell already)
WORKSPACE_FLAGS = ("--workspace", "-w")


def load(shell) -> None:
    from challenge.feedback.grading import keep_sandbox_warm
    from grader import api

    magics = ChallengeMagics(shell)
    shell.register_magics(magics)
    # One sandbox for the kernel's life (started by the first test): a later test costs a fork, as under `watch`.
    keep_sandbox_warm(api.WarmGrader())
    with magics.notebook_output():
        announce_isolation()


def unload(shell) -> None:
    from challenge.feedback.grading import keep_sandbox_warm

    keep_sandbox_warm(None)


def announce_isolation() -> None:
    """Say once, on loading, when this machine cannot run the full sandbox (hosted notebooks often cannot)."""
    from grader import api

    mode = api.isolation()
    if mode.isolated:
        return
    fallback = "namespaces" if mode.kind == "namespaces" else "no namespaces either"
    out.text(f"[yellow]Note: the full sandbox (bubblewrap) cannot start here (are user namespaces forbidden?), so "
             f"your code is graded in the fallback sandbox ({fallback}); each result says what it enforced, and "
             "the report counts those attempts. An employer's `challenge verify` re-grades your bundle in its own "
             "sandbox anyway.[/yellow]")


def ask_in_kernel(question: str) -> bool | None:
    """y/N through the kernel's input; None where the front end cannot answer (headless runs, no stdin)."""
    try:
        answer = input(f"{question} [y/N] ")
    except (StdinNotImplementedError, EOFError, OSError):
        return None
    return answer.strip().lower() in ("y", "yes")


def parse_params(command: str, args: list[str]) -> dict:
    """The arguments of one command as the CLI parses them (its typer command, not a copy of its flags)."""
    import typer.main

    group = typer.main.get_command(app)
    with group.commands[command].make_context(f"{PROG} {command}", list(args)) as context:
        return dict(context.params)


def explicit_workspace(argv: list[str]) -> Path | None:
    for index, arg in enumerate(argv):
        if arg in WORKSPACE_FLAGS and index + 1 < len(argv):
            return Path(argv[index + 1]).expanduser()
        for flag in WORKSPACE_FLAGS:
            if arg.startswith(flag + "="):
                return Path(arg[len(flag) + 1:]).expanduser()
    return None


@magics_class
class ChallengeMagics(Magics):
    def __init__(self, shell, *, ask: Ask = ask_in_kernel):
        super().__init__(shell)
        self.ask = ask
        self.workspace: Path | None = None  # the last one named with --workspace: the default after it
        self.last_exit_code: int | None = None  # the CLI's exit code of the last command (0 passed, 1 failed, ...)

    @line_cell_magic
    def challenge(self, line: str, cell: str | None = None) -> None:
        """Run a `challenge` command: `%challenge --help` lists them, `%challenge test --help` explains one."""
        with self.notebook_output():
            try:
                argv = shlex.split(line)
            except ValueError as error:
                out.error(f"{PROG} {line}: {error}", "Quote arguments as in a shell.")
                self.last_exit_code = 2
                return
            with self._default_workspace(argv):
                if cell is None:
                    new_cell = argv[:1] == ["start"] and NO_CELL_FLAG not in argv
                    argv = [arg for arg in argv if arg != NO_CELL_FLAG] if argv[:1] == ["start"] else argv
                    code = run(argv, prog_name=PROG)
                    if code == 0 and new_cell:
                        code = run(action=lambda: self._stub_into_next_cell(argv[1:]))
                else:
                    code = run(action=lambda: self._save_cell_then_run(argv, cell))
            self.last_exit_code = code

    def _save_cell_then_run(self, argv: list[str], cell: str) -> int:
        command = argv[0] if argv else ""
        if command not in CELL_COMMANDS:
            raise UsageError(f"{f'%%challenge {command}'.strip()}: a cell can be saved and run by "
                             f"{' or '.join(CELL_COMMANDS)} only.",
                             "Example: %%challenge test attention (other commands are line magics: "
                             f"%challenge {command or 'status'}).")
        args = [arg for arg in argv[1:] if arg != OVERWRITE_FLAG]
        params = parse_params(command, args)
        workspace, milestone, path = self._milestone_file(params)
        stub = self._stub(milestone)
        save_cell(workspace=workspace, path=path, cell=cell, stub=stub, overwrite=OVERWRITE_FLAG in argv,
                  ask=self.ask, magic=f"%%challenge {command} {' '.join(args)}".strip())
        saved, out.run_again = out.run_again, f"run this cell again (%%challenge {command} {milestone.id})"
        try:
            return app(args=[command, *args], standalone_mode=False, prog_name=PROG)
        finally:
            out.run_again = saved

    def _stub_into_next_cell(self, args: list[str]) -> None:
        """After `start`: the milestone's file (the stub, or the code already there) in a new cell below."""
        params = parse_params("start", args)
        workspace, milestone, path = self._milestone_file(params)
        data = path.read_bytes()
        remember(workspace, path, data)
        command = "train" if milestone.training is not None else "test"
        self.shell.set_next_input(f"%%challenge {command} {milestone.id}\n{data.decode('utf-8', 'replace')}",
                                  replace=False)

    @staticmethod
    def _milestone_file(params: dict):
        from challenge.run_requests import learner_file_of
        from milestones import load_registry

        workspace = find_workspace(explicit=params.get("workspace"))
        milestone = load_registry().get(params["milestone"])
        return workspace, milestone, learner_file_of(workspace, milestone)

    @staticmethod
    def _stub(milestone) -> bytes | None:
        from milestones import load_registry

        try:
            return (load_registry().folder(milestone) / "stub.py").read_bytes()
        except OSError:
            return None

    @contextmanager
    def _default_workspace(self, argv: list[str]) -> Iterator[None]:
        """A workspace named once with --workspace (init's included) is the default of later commands."""
        named = explicit_workspace(argv)
        previous = os.environ.get(ENV_VAR)
        if named is None and self.workspace is not None and previous is None:
            os.environ[ENV_VAR] = str(self.workspace)
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(ENV_VAR, None)
            else:
                os.environ[ENV_VAR] = previous
            if named is not None and is_workspace(named):
                self.workspace = named.resolve()

    @contextmanager
    def notebook_output(self) -> Iterator[None]:
        """In a kernel, the sink's consoles are rich's Jupyter consoles (HTML in the cell, with plain text
        beside it); elsewhere (a terminal IPython) they stay as they are."""
        if getattr(self.shell, "kernel", None) is None:
            yield
            return
        saved = out.console, out.err_console, out.can_ask
        # no colour system: the text/plain beside the HTML is plain text, not escape codes (the HTML keeps
        # the styles: rich draws it from the styled segments)
        out.console = Console(force_jupyter=True, color_system=None, highlight=False, soft_wrap=False)
        out.err_console = Console(force_jupyter=True, color_system=None, highlight=False, stderr=True)
        # the CLI's questions (predictions, reflect, after a pass) go to the notebook's input box where the front
        # end answers input(); a headless run does not, and is treated like a script
        out.can_ask = bool(getattr(self.shell.kernel, "_allow_stdin", False))
        try:
            yield
        finally:
            out.console, out.err_console, out.can_ask = saved
