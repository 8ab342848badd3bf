"""Judge-side helpers for the training milestones' hidden tests: build the
learner's model from its checkpoint (or at random init) inside the worker, and
evaluate it in batches. Labels and targets never leave the judge: only inputs
go to the worker, logits come back, and the judge scores them."""

from __future__ import annotations

import torch

from grader.judge.compare import GradingFailure, describe_value
from grader.protocol import Handle
from grader.judge.session import LearnerSession, Remote
from grader.judge.run_cache import StashKey

RANDOM_INIT_SEED = 1234

MODELS: StashKey[dict[str, tuple]] = StashKey("models")  # name -> (worker id, handle): valid while it lives


def _cached(learner: LearnerSession, key: str, make):
    """Per-run cache; model handles are valid only while the same worker lives."""
    cache = learner.run_cache.setdefault(MODELS, {})
    worker_id = id(learner.worker)
    if key not in cache or cache[key][0] != worker_id:
        cache[key] = (worker_id, make())
    return cache[key][1]


def task_of(learner: LearnerSession):
    """The harness's data for this run (``grader.api.TaskData``)."""
    if learner.task is None:
        raise RuntimeError("this milestone's tests need the task's data, but the request carried none")
    return learner.task


def build(learner: LearnerSession) -> Remote:
    spec = task_of(learner).spec
    value = learner.call("build_model", None, [dict(spec)], {}, what="build_model(spec)")
    if not isinstance(value, Handle):
        raise GradingFailure(f"build_model(spec) returned {describe_value(value)}, not an nn.Module.",
                             "build_model must return your model (an nn.Module).")
    return Remote(learner, value, "model")


def trained_model(learner: LearnerSession) -> Remote:
    def make() -> Remote:
        model = build(learner)
        if learner.trained is None:
            raise GradingFailure("There is no trained model to test.", "Train first: challenge train <milestone>.")
        state = dict(learner.trained.state)
        try:
            model.load_state_dict(state, strict=True)
        except Exception as error:  # a learner exception: the checkpoint does not fit the code
            raise GradingFailure(
                f"Your checkpoint does not load into build_model(spec): {error}",
                "The code changed since you trained. Run `challenge train` again, then test.") from error
        return model.eval()

    return _cached(learner, "trained", make)


def random_init_model(learner: LearnerSession) -> Remote:
    def make() -> Remote:
        learner.seed(RANDOM_INIT_SEED)
        return build(learner).eval()

    return _cached(learner, "random", make)


def trim_padding(ids: torch.Tensor, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, padding_mask) without the columns that are padding in every row."""
    padding_mask = ids == pad_id
    real = (~padding_mask).any(0).nonzero()
    width = int(real.max()) + 1 if len(real) else 1
    return ids[:, :width], padding_mask[:, :width]


def more_padding(ids: torch.Tensor, pad_id: int, *, rows: int, room: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(trimmed, padded): up to ``rows`` right-padded rows with at least ``room`` padding columns, first cut to
    their longest real length, then the same rows padded with ``pad_id`` to the full width. The two differ only
    in how much padding follows the words: whatever a model outputs at the real tokens must not change."""
    ids = ids.long()
    lengths = torch.where(ids != pad_id, torch.arange(ids.shape[1]) + 1, 0).amax(1)
    short = (lengths <= ids.shape[1] - room).nonzero().flatten()
    picked = ids[short[:rows]] if len(short) else ids[:rows]
    trimmed, _ = trim_padding(picked, pad_id)
    return trimmed, picked


def padding_change(model: Remote, ids: torch.Tensor, pad_id: int, *, out_size: int, per_token: bool,
                   rows: int = 64) -> float:
    """The largest change of the logits at real tokens (``per_token``: (B, T, out_size)) or of the
    per-sequence logits ((B, out_size)) when more padding columns follow the same rows."""
    trimmed, padded = more_padding(ids, pad_id, rows=rows)
    outputs = []
    for batch in (trimmed, padded):
        mask = batch == pad_id
        with model.session.expecting(reply_bytes(*batch.shape, out_size)):
            got = model.infer(batch, mask)
        shape = (*batch.shape, out_size) if per_token else (len(batch), out_size)
        outputs.append(check_logits(got, shape, "model(ids, padding_mask)"))
    short, long = outputs
    if per_token:
        real = trimmed != pad_id
        return float((short[real] - long[:, :trimmed.shape[1]][real]).abs().max()) if real.any() else 0.0
    return float((short - long).abs().max())


def check_logits(got, expected_shape: tuple[int, ...], what: str) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise GradingFailure(f"{what} returned {type(got).__name__}, expected logits of shape {expected_shape}.",
                             "forward must return a plain tensor of logits.")
    if tuple(got.shape) != expected_shape:
        raise GradingFailure(f"{what} returned shape {tuple(got.shape)}, expected {expected_shape}.",
                             "Check the forward conventions in the milestone's README.")
    if not torch.isfinite(got).all():
        raise GradingFailure(f"{what} returned NaN or inf logits.",
                             "A fully masked attention row, or a diverged training run (try a lower learning rate)?")
    return got.to(torch.float64)


def reply_bytes(*shape: int) -> int:
    """What an answer of this shape may take on the wire (float64, plus room for the header)."""
    count = 1
    for size in shape:
        count *= int(size)
    return 8 * count + (1 << 20)


def classify(model: Remote, ids: torch.Tensor, pad_id: int, n_classes: int, batch: int = 256) -> torch.Tensor:
    """(N, n_classes) logits for right-padded ids (N, T)."""
    out = []
    for start in range(0, len(ids), batch):
        chunk, mask = trim_padding(ids[start:start + batch].long(), pad_id)
        with model.session.expecting(reply_bytes(len(chunk), n_classes)):
            logits = model.infer(chunk, mask)
        out.append(check_logits(logits, (len(chunk), n_classes), "model(ids, padding_mask)"))
    return torch.cat(out)


def token_logits(model: Remote, ids: torch.Tensor, vocab_size: int, *, padding_mask: torch.Tensor | None = None,
                 batch: int = 32) -> torch.Tensor:
    """(N, T, V) logits; with a padding mask the model is called as model(ids, padding_mask)."""
    out = []
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch].long()
        args = (chunk,) if padding_mask is None else (chunk, padding_mask[start:start + batch])
        what = "model(ids)" if padding_mask is None else "model(ids, padding_mask)"
        with model.session.expecting(reply_bytes(*chunk.shape, vocab_size)):
            logits = model.infer(*args)
        out.append(check_logits(logits, (*chunk.shape, vocab_size), what).to(torch.float32))
    return torch.cat(out)


def format_ci(low: float, high: float) -> str:
    return f"[{low:.3f}, {high:.3f}]"


# -- language models: losses against the unigram baseline and random init ------

UNIGRAM_MARGIN, RANDOM_MARGIN = 0.5, 1.0


def record_loss_metrics(learner: LearnerSession, scores: dict, *, loss_name: str, count_name: str, count: int) -> None:
    """Put the learner's loss beside both baselines (per-item means in ``scores``) into the results."""
    from grader.judge.stats import bootstrap_paired_diff_ci

    trained, unigram, random = (float(scores[k].mean()) for k in ("trained", "unigram", "random"))
    low, high = bootstrap_paired_diff_ci(scores["unigram"], scores["trained"])
    learner.metrics.update({
        count_name: count,
        loss_name: round(trained, 4),
        "unigram baseline": round(unigram, 4),
        "random-init loss": round(random, 4),
        "unigram - yours, 95% bootstrap CI": format_ci(low, high),
        "pass rule": f"at least {UNIGRAM_MARGIN} nats below unigram (CI above 0) and {RANDOM_MARGIN} below random init",
    })


def check_unigram_margin(scores: dict, *, what: str, hint: str, probe=None) -> None:
    """``probe``: () -> a ``grader.judge.trained_probes.Finding`` or None, run only on failure: what it
    found leads the message and replaces the general hint."""
    from grader.judge.stats import bootstrap_paired_diff_ci

    trained, unigram = float(scores["trained"].mean()), float(scores["unigram"].mean())
    low, high = bootstrap_paired_diff_ci(scores["unigram"], scores["trained"])
    if unigram - trained < UNIGRAM_MARGIN or low <= 0:
        finding = probe() if probe is not None else None
        numbers = (f"{what} {trained:.3f} nats vs unigram {unigram:.3f}: a margin of {unigram - trained:.3f} "
                   f"(95% CI {format_ci(low, high)}); needs at least {UNIGRAM_MARGIN}.")
        if finding is not None:
            raise GradingFailure(f"{finding.message}\n{numbers}", finding.hint)
        raise GradingFailure(numbers, hint)


def check_random_margin(scores: dict, *, what: str) -> None:
    trained, random = float(scores["trained"].mean()), float(scores["random"].mean())
    if random - trained < RANDOM_MARGIN:
        raise GradingFailure(
            f"{what} {trained:.3f} vs {random:.3f} for the same architecture at random init "
            f"(margin {random - trained:.3f}, needs {RANDOM_MARGIN}).",
            "Training barely changed the model: is the optimizer stepping this model's parameters?")
