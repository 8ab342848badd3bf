"""`challenge reflect`: the challenge's self-questions, rated 1-5."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.table import Table

from challenge.record.bookkeeping import require_started
from challenge.commands.context import open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.errors import UsageError
from challenge.output import out
from challenge.output import untrusted as escape  # answers are free text typed by the learner
from challenge.prompts import ask, ask_text, read_rating
from challenge.record.reflection import (
    Answer, answers_template, read_answers_file, read_draft, record_reflection, reflection_questions, save_draft,
)


def _ask(ctx, m, questions) -> dict[str, Answer]:
    """Ask every question not answered yet; each answer is kept (a draft) as soon as it is given."""
    answers = read_draft(ctx.workspace, m, questions)
    if answers:
        out.text(f"[dim]Going on from your earlier answers ({len(answers)} of {len(questions)} kept).[/dim]")
    try:
        for number, (qid, question) in enumerate(questions, start=1):
            if qid in answers:
                continue
            out.text(f"\n[bold]{number}/{len(questions)}[/bold] {escape(question.text)}")
            out.text(f"[dim]1 = {escape(question.low)} … 5 = {escape(question.high)}[/dim]")
            rating = int(ask("Rating (1-5)", read_rating))
            answers[qid] = Answer(rating, ask_text("Anything to add? (Enter to skip)"))
            save_draft(ctx.workspace, m, answers)
    except (typer.Abort, KeyboardInterrupt, EOFError):
        if answers:
            kept = "s so far are" if len(answers) != 1 else " so far is"
            out.warn(f"Stopped. Your {len(answers)} answer{kept} kept: "
                     f"`challenge reflect {m.id}` goes on from there.")
        raise
    return {qid: answers[qid] for qid, _ in questions}


def reflect(
    milestone: MilestoneArg,
    answers: Annotated[Optional[Path],
                       typer.Option("--answers", help="Read the answers from a YAML file instead of asking.")] = None,
    template: Annotated[bool, typer.Option("--template", help="Print a YAML template for --answers and exit.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Answer the challenge's self-questions about a milestone (1-5, optional notes).

    Asked on a terminal; scripts pass --answers FILE.yaml. Running it again replaces
    your answers in the report; the earlier ones stay in the log.

    Examples:
      challenge reflect attention
      challenge reflect attention --template > answers.yaml
      challenge reflect attention --answers answers.yaml
    """
    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    if template:
        out.document(answers_template(ctx.registry, m))
        return
    require_started(workspace=ctx.workspace, milestone=m)
    questions = reflection_questions(ctx.registry, m)
    if answers is not None:
        given = read_answers_file(answers, questions)
    elif out.interactive:
        out.text(f"Reflect on [bold]{m.id}[/bold]: {len(questions)} questions, 1-5 each.")
        given = _ask(ctx, m, questions)
    else:
        raise UsageError("Not a terminal, so there is no one to ask.",
                         f"Pass the answers: challenge reflect {m.id} --template > a.yaml, fill it in, "
                         f"then challenge reflect {m.id} --answers a.yaml")
    result = record_reflection(workspace=ctx.workspace, milestone=m, answers=given)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1), show_edge=False)
    for column in ("question", "rating", "note"):
        table.add_column(column)
    for qid, question in questions:
        answer = result.answers[qid]
        table.add_row(escape(question.area), str(answer.rating), escape(answer.text or ""))
    out.table(table)
    replaced = " Your earlier answers were replaced (they stay in the log)." if result.replaced else ""
    out.success(f"Reflection on {m.id} saved.{replaced} See it in [bold]challenge report[/bold].")
