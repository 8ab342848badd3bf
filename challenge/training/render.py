"""Rendering a training run's outcome (`challenge train`, and ``TrainResult`` in a notebook)."""

from __future__ import annotations

from challenge.output import Output


def render_training(out: Output, result) -> bool:
    """What the run did, the checkpoint and the next command; False when training failed (said as an error)."""
    outcome = result.outcome
    name = result.milestone or "the milestone"
    if outcome.output.strip():
        out.text("[dim]your output:[/dim]\n[dim]" + out.untrusted(outcome.output.strip()[-1500:], multiline=True)
                 + "[/dim]")
    if outcome.status != "trained":
        out.error(f"Training failed. {outcome.message}", outcome.hint)
        return False
    last = outcome.history[-1] if outcome.history else {}
    loss = last.get("loss")
    loss_text = f"{loss:.3f}" if isinstance(loss, (int, float)) and not isinstance(loss, bool) else "?"
    out.success(f"Trained {name} for {outcome.cpu_s:.0f} CPU s on {outcome.threads} thread(s) "
                f"({outcome.elapsed_s:.0f} s wall; {len(outcome.history)} logged steps, "
                f"stopped: {out.untrusted(outcome.stopped_by)}); final loss {loss_text}.")
    if not outcome.history:
        out.warn("Your loop never called task.log(step, loss): no progress or training log was recorded.")
    if outcome.forbidden_used:
        out.warn("Your model used " + ", ".join(outcome.forbidden_used) + ": the tests will refuse it.")
    if outcome.sandbox and not outcome.sandbox.get("isolated", True):
        out.text("[yellow]Note: this run was not fully isolated: "
                 f"network {outcome.sandbox.get('network')}, filesystem {outcome.sandbox.get('filesystem')}.[/yellow]")
    if result.checkpoint_dir is not None:
        curves = result.checkpoint_dir / "curves.png"
        if curves.is_file():
            out.text(f"Curves: {curves}")
        out.text(f"Checkpoint: {result.checkpoint_dir}\nNext: [bold]challenge test {name}[/bold]")
    return True
