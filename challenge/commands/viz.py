"""`challenge viz`: draw what your model attends to, every head of every layer."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from challenge.commands.context import open_context
from challenge.commands.options import MilestoneArg, WorkspaceOpt
from challenge.output import out


def viz(
    milestone: MilestoneArg,
    text: Annotated[str, typer.Option("--text", "-t", help="The text to run through the model.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for attention.png and "
                                                   "attention.html. Default: viz/ in the milestone's folder.")] = None,
    checkpoint_from: Annotated[Optional[str], typer.Option("--checkpoint-from", help="Load the latest checkpoint of "
                                                           "this trained milestone. Default: the matching "
                                                           "prerequisite (gpt), if trained.")] = None,
    random_init: Annotated[bool, typer.Option("--random-init", help="Draw the model untrained, even if a checkpoint "
                                                                    "exists.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Draw every attention head of every layer for a text: labelled heatmaps as PNG and self-contained HTML.

    Your attention_patterns(model, ids) runs in the sandbox on your latest trained checkpoint
    (or at random init when there is none, with a warning); tokens label both axes.

    Examples:
      challenge viz attention_viz --text "Oil prices rose on Monday"
      challenge viz attention_viz --text "Stocks fell" --output plots/
      challenge viz attention_viz --text "Stocks fell" --random-init
    """
    from challenge.viz import visualise

    ctx = open_context(workspace)
    m = ctx.milestone(milestone)
    result = visualise(workspace=ctx.workspace, registry=ctx.registry, milestone=m, text=text, output=output,
                       checkpoint_from=checkpoint_from, random_init=random_init,
                       on_sandbox=lambda: out.text(f"Running your attention_patterns for [bold]{m.id}[/bold] "
                                                   "in the sandbox ..."))
    for note in result.patterns.warnings:
        out.warn(note)
    layers, heads, tokens = result.patterns.shape
    out.success(f"{layers} layers × {heads} heads over {tokens} tokens ({result.patterns.source}).")
    out.text(f"PNG:  {result.png}\nHTML: {result.html}")
