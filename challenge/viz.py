"""Plain functions behind `challenge viz`: tokenise a text with the task's tokeniser,
run the learner's ``attention_patterns`` in the sandbox (on their latest trained
checkpoint when there is one), and draw every head of every layer as labelled
heatmaps: one PNG grid, and a self-contained HTML page (images inline as base64,
nothing fetched from the network).

Which checkpoint: ``--checkpoint-from NAME``, or else the first of the milestone
itself and its prerequisites that trains on the same task and has a checkpoint
(for attention_viz: gpt). Without one the model is drawn at random init, with a
warning. The learner's code never runs in this process.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from challenge.errors import ChallengeError, UsageError
from challenge.training.checkpoints import latest_checkpoint, load_checkpoint, require_same_data
from challenge.run_requests import budgets_of, learner_file_of
from challenge.taskdata import cache_dir_of, prepare_data, task_name
from challenge.record.workspace import Workspace
from milestones import Milestone, Registry

PNG_NAME, HTML_NAME = "attention.png", "attention.html"
RANDOM_INIT_SEED = 0
SHOWN = {" ": "␣", "\n": "⏎", "\t": "⇥", "\r": "␍"}  # whitespace made visible on the axes


@dataclass(frozen=True)
class Patterns:
    """What one text looks like to the model: weights (L, H, T, T) as nested lists of floats."""

    weights: list  # [layer][head][query][key]
    labels: list[str]  # one per position, whitespace made visible
    text: str  # the text as the model saw it (after cropping)
    source: str  # "random init" or the checkpoint folder
    warnings: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(layers, heads, tokens)"""
        return len(self.weights), len(self.weights[0]), len(self.labels)


@dataclass(frozen=True)
class VizResult:
    patterns: Patterns
    png: Path
    html: Path


# -- the text, the checkpoint, the sandbox ---------------------------------------------------------


def display_label(piece: str) -> str:
    return "".join(SHOWN.get(ch, ch) for ch in piece) or "∅"


def tokenise(task, text: str) -> tuple[list[int], list[str], str, list[str]]:
    """(ids, labels, the text they cover, warnings) for ``text``, cropped to the model's context (block_size)."""
    if not text.strip():
        raise UsageError("--text is empty.", 'Example: challenge viz attention_viz --text "Oil prices rose"')
    encoding = task.tokenizer.encode(text)
    ids, offsets = list(encoding.ids), list(encoding.offsets)
    notes = []
    unknown = sorted({text[a:b] for i, (a, b) in zip(ids, offsets) if i == task.spec.get("unk_id")})
    if unknown:
        notes.append("not in the vocabulary, shown as [UNK] to the model: " + " ".join(map(repr, unknown)))
    limit = int(task.spec.get("block_size") or task.spec.get("max_len") or len(ids))
    if len(ids) > limit:
        notes.append(f"the text has {len(ids)} tokens; the model's context is {limit}: "
                     f"only the first {limit} are drawn")
        ids, offsets = ids[:limit], offsets[:limit]
    if not ids:
        raise UsageError("The text gives no tokens.", "Use some letters or words.")
    labels = [display_label(text[a:b]) if b > a else display_label(task.tokenizer.id_to_token(i) or "?")
              for i, (a, b) in zip(ids, offsets)]
    return ids, labels, text[: max(b for _, b in offsets)], notes


def find_checkpoint(*, workspace: Workspace, registry: Registry, milestone: Milestone,
                    checkpoint_from: str | None) -> tuple[Milestone | None, Path | None]:
    """(milestone, checkpoint folder) to load, or (None, None) for random init."""
    task = task_name(milestone)
    if checkpoint_from is not None:
        source = registry.get(checkpoint_from)
        if source.training is None or task_name(source) != task:
            raise UsageError(f"'{source.id}' does not train a model on {task}, the data {milestone.id} reads.",
                             "Leave --checkpoint-from out to use the matching trained milestone, or --random-init.")
        folder = latest_checkpoint(workspace.milestone_dir(source.folder))
        if folder is None:
            raise UsageError(f"No trained model for '{source.id}' yet.",
                             f"Train it first: challenge train {source.id} "
                             "(or draw the untrained model: --random-init)")
        return source, folder
    candidates = [milestone] + [registry.get(p) for p in milestone.prerequisites]
    for source in candidates:
        if source.training is not None and task_name(source) == task:
            folder = latest_checkpoint(workspace.milestone_dir(source.folder))
            if folder is not None:
                return source, folder
    return None, None


def run_attention_patterns(*, learner_file: Path, milestone: Milestone, spec: dict, state: dict | None, ids,
                           isolate: bool = True):
    """The learner's attention_patterns(build_model(spec) [+ state], ids), run in the sandbox;
    a (L, B, H, T, T) float tensor, checked for shape and finiteness (never trusted further)."""
    from grader import api

    request = api.ModelCallRequest(learner_file=learner_file, spec=dict(spec), function="attention_patterns",
                                   args=(ids,), state=state, seed=RANDOM_INIT_SEED, budgets=budgets_of(milestone),
                                   isolation="best" if isolate else "off")
    try:
        value = api.call_with_model(request)
    except api.ModelCallFailed as failure:
        hint = failure.hint or "Run the tests: they say more."
        if failure.step.startswith("loading"):
            hint = (f"{learner_file.name}'s build_model must build the same model as the one you trained (same "
                    "parameter names and sizes): copy it again, or draw the untrained model with --random-init.")
        elif failure.step.startswith("finding"):
            hint = 'Draw a milestone whose file defines it, e.g. challenge viz attention_viz --text "..."'
        raise ChallengeError(f"{failure.step} failed. {failure.message}", hint) from None
    return _checked(value, ids.shape, milestone.id)


def _checked(value, ids_shape, milestone_id: str):
    import torch

    b, t = ids_shape
    if not isinstance(value, torch.Tensor) or value.dim() != 5 or value.shape[1] != b or value.shape[3:] != (t, t):
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise ChallengeError(f"attention_patterns returned {shape}, expected (n_layers, {b}, n_heads, {t}, {t}).",
                             f"Run `challenge test {milestone_id}`: its tests explain what is wrong.")
    if not value.is_floating_point() or not torch.isfinite(value).all():
        raise ChallengeError("attention_patterns returned NaN, inf or a non-float tensor.",
                             f"Run `challenge test {milestone_id}`: its tests explain what is wrong.")
    return value.detach().to(torch.float32)


def collect_patterns(*, workspace: Workspace, registry: Registry, milestone: Milestone, text: str,
                     checkpoint_from: str | None = None, random_init: bool = False, isolate: bool = True,
                     on_sandbox: Callable[[], None] | None = None) -> Patterns:
    """The learner's patterns for ``text``; ``on_sandbox`` is called once the inputs are valid."""
    if task_name(milestone) is None:
        raise UsageError(f"'{milestone.id}' has no text to draw attention over.",
                         'Draw your GPT\'s attention: challenge viz attention_viz --text "..."')
    if random_init and checkpoint_from:
        raise UsageError("--random-init and --checkpoint-from contradict each other.", "Pass one of them.")
    learner_file = learner_file_of(workspace, milestone)
    task = prepare_data(milestone, cache_dir=cache_dir_of(workspace))
    ids, labels, shown, notes = tokenise(task, text)
    state, source = None, "random init"
    if not random_init:
        trained, folder = find_checkpoint(workspace=workspace, registry=registry, milestone=milestone,
                                          checkpoint_from=checkpoint_from)
        if folder is None:
            notes.append("no trained checkpoint in this workspace: drawing your model at random initialisation "
                         "(rows are close to uniform). Train it first for real patterns: challenge train "
                         + next((p for p in milestone.prerequisites), milestone.id))
        else:
            state, config = load_checkpoint(folder)
            require_same_data(config, task, trained=trained.id,
                              alternative=" (or draw the untrained model: --random-init)")
            source = f"{trained.id} checkpoint {folder.name}"
    import torch

    if on_sandbox is not None:
        on_sandbox()
    patterns = run_attention_patterns(learner_file=learner_file, milestone=milestone, spec=task.spec, state=state,
                                      ids=torch.tensor([ids], dtype=torch.long), isolate=isolate)
    return Patterns(weights=patterns[:, 0].tolist(), labels=labels, text=shown, source=source, warnings=notes)


# -- drawing ----------------------------------------------------------------------------------------


def _figure_png(weights: list, labels: list[str], *, layers: list[int], cell_in: float, title: str) -> bytes:
    """A grid of heatmaps, one row per layer in ``layers`` and one column per head, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure  # no pyplot: no global state, no display

    heads, t = len(weights[0]), len(labels)
    fits = max(1, int(cell_in * 72 / 6))  # labels of at least ~6 pt
    every = math.ceil(t / fits)
    font = max(4.0, min(9.0, cell_in * 72 / max(t, 1) * 0.8))
    ticks = list(range(0, t, every))
    figure = Figure(figsize=(heads * cell_in + 1.2, len(layers) * cell_in + 0.8), dpi=100, layout="constrained")
    norm = PowerNorm(0.5, vmin=0.0, vmax=1.0)  # square-root colours: small weights stay visible
    FigureCanvasAgg(figure)
    grid = figure.subplots(len(layers), heads, squeeze=False)
    image = None
    for row, layer in enumerate(layers):
        for head in range(heads):
            axes = grid[row][head]
            image = axes.imshow(weights[layer][head], cmap="viridis", norm=norm, interpolation="nearest")
            axes.set_title(f"layer {layer} · head {head}", fontsize=10)
            # Tokens on the outer axes only: each tick label costs milliseconds to lay out.
            if row == len(layers) - 1:
                axes.set_xticks(ticks, [labels[i] for i in ticks], rotation=90, fontsize=font, fontfamily="monospace")
                axes.set_xlabel("key (attended to)", fontsize=8)
            else:
                axes.set_xticks([])
            if head == 0:
                axes.set_yticks(ticks, [labels[i] for i in ticks], fontsize=font, fontfamily="monospace")
                axes.set_ylabel("query (attends from)", fontsize=8)
            else:
                axes.set_yticks([])
    figure.colorbar(image, ax=grid.ravel().tolist(), shrink=min(1.0, 0.9 / len(layers) ** 0.5),
                    label="attention weight (square-root scale)")
    figure.suptitle(title, fontsize=12)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")  # e.g. emoji in the text
        figure.savefig(buffer, format="png")
    return buffer.getvalue()


def grid_png(patterns: Patterns, *, title: str) -> bytes:
    """Every head of every layer in one picture."""
    layers, _, t = patterns.shape
    return _figure_png(patterns.weights, patterns.labels, layers=list(range(layers)),
                       cell_in=min(5.5, max(2.4, 0.1 * t + 1.0)), title=title)


def layer_png(patterns: Patterns, layer: int, *, title: str) -> bytes:
    """One layer's heads side by side, larger than in the grid."""
    t = patterns.shape[2]
    return _figure_png(patterns.weights, patterns.labels, layers=[layer], cell_in=min(8.0, max(3.2, 0.14 * t + 1.2)),
                       title=title)


def render_html(patterns: Patterns, *, title: str, layer_images: list[bytes]) -> str:
    """A self-contained page: the text, how to read the plots, one inline PNG per layer."""
    layers, heads, t = patterns.shape
    tokens = "".join(f'<span class="tok" title="position {i}">{html.escape(label)}</span>'
                     for i, label in enumerate(patterns.labels))
    notes = "".join(f'<p class="warn">{html.escape(n)}</p>' for n in patterns.warnings)
    sections = "".join(
        f'<h2>Layer {layer}</h2>\n<img alt="layer {layer}: heads 0 to {heads - 1}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">\n'
        for layer, png in enumerate(layer_images))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem; color: #222; }}
.tok {{ font-family: ui-monospace, monospace; background: #eef; margin: 1px; padding: 0 2px; border-radius: 2px; }}
.warn {{ background: #fff4d6; border-left: 4px solid #e0a800; padding: .4rem .8rem; }}
.meta {{ color: #555; }}
img {{ max-width: 100%; height: auto; border: 1px solid #ddd; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">Model: {html.escape(patterns.source)} · {layers} layers × {heads} heads · {t} tokens</p>
{notes}
<p>{tokens}</p>
<p>Each heatmap is one head: row <em>i</em> is the query at position <em>i</em>, column <em>j</em> the key it
attends to; a row sums to 1, and a causal model leaves everything above the diagonal at 0. Colours run from
0 (dark) to 1 (yellow) on a square-root scale, so that small weights stay visible.</p>
{sections}</body></html>
"""


def write_outputs(patterns: Patterns, *, output_dir: Path, title: str) -> tuple[Path, Path]:
    from challenge.record.storage import write_atomic

    output_dir.mkdir(parents=True, exist_ok=True)
    png, page = output_dir / PNG_NAME, output_dir / HTML_NAME
    write_atomic(png, grid_png(patterns, title=title))
    images = [layer_png(patterns, layer, title=f"{title}: layer {layer}") for layer in range(patterns.shape[0])]
    write_atomic(page, render_html(patterns, title=title, layer_images=images))
    return png, page


def visualise(*, workspace: Workspace, registry: Registry, milestone: Milestone, text: str,
              output: Path | None = None, checkpoint_from: str | None = None, random_init: bool = False,
              isolate: bool = True, on_sandbox: Callable[[], None] | None = None) -> VizResult:
    """Collect the patterns in the sandbox, draw them, and log the run as activity."""
    started = time.time()
    patterns = collect_patterns(workspace=workspace, registry=registry, milestone=milestone, text=text,
                                checkpoint_from=checkpoint_from, random_init=random_init, isolate=isolate,
                                on_sandbox=on_sandbox)
    folder = Path(output) if output is not None else workspace.milestone_dir(milestone.folder) / "viz"
    preview = patterns.text if len(patterns.text) <= 40 else patterns.text[:37] + "..."
    title = f"Attention of {milestone.id} ({patterns.source}): {preview!r}"
    png, page = write_outputs(patterns, output_dir=folder, title=title)
    workspace.log.append("activity", milestone=milestone.id, data={
        "command": "viz", "source": patterns.source, "tokens": patterns.shape[2],
        "busy_s": round(time.time() - started, 3)})
    return VizResult(patterns, png, page)
