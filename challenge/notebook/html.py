"""What the CLI prints, as HTML for a notebook (``_repr_html_``).

The CLI's own renderers draw into a recording rich console, which rich exports
as HTML with inline styles: the notebook shows the same boxes, lines and
colours as the terminal, and every piece of text is HTML-escaped on the way
(learner code's messages and output included), never markup.
"""

from __future__ import annotations

import io
from collections.abc import Callable

from rich.console import Console

from challenge.output import Output

WIDTH = 110  # about what a notebook's output area shows without scrolling
CODE_FORMAT = ('<pre style="white-space:pre;overflow-x:auto;line-height:normal;'
               "font-family:Menlo,'DejaVu Sans Mono',consolas,'Courier New',monospace\">{code}</pre>")


def recording_output(*, width: int = WIDTH) -> Output:
    """An ``Output`` whose consoles record instead of printing (stdout and stderr into one record)."""
    sink = Output()
    console = Console(file=io.StringIO(), record=True, width=width, force_terminal=True, force_jupyter=False,
                      color_system="truecolor", highlight=False, soft_wrap=False)
    sink.console = console
    sink.err_console = console
    return sink


def html_of(render: Callable[[Output], None], *, width: int = WIDTH) -> str:
    sink = recording_output(width=width)
    render(sink)
    return sink.console.export_html(inline_styles=True, code_format=CODE_FORMAT)

