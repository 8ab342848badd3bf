"""Hidden tests for milestone 5: the trained BERT and its masking function.

Loss on masked positions of held-out AG News articles under a fixed evaluation
mask (the judge keeps the original tokens), against the unigram baseline and the
same model at random init; bidirectionality; BERT's 15% / 80-10-10 masking,
checked statistically over many tokens."""

import math

import torch
import torch.nn.functional as F

from grader.judge.compare import GradingFailure, describe_value
from grader.judge.trained import (check_random_margin, check_unigram_margin, padding_change, random_init_model,
                                    record_loss_metrics, task_of, token_logits, trained_model)
from grader.protocol import GeneratorSeed
from grader.judge import trained_probes as probes
from grader.judge.stats import unigram_token_losses
from grader.judge.tasks import mask_for_evaluation
from grader.judge.run_cache import StashKey

EVAL_MASK_SEED = 20_221_012
MAX_EXAMPLES = 600
SIGMAS = 5.0  # statistical checks allow five standard errors: false alarms about 1 in 3 million


def _example_losses(logits, labels):
    """Mean masked-token loss per example (examples without a masked token are dropped by the caller)."""
    losses = F.cross_entropy(logits.transpose(1, 2).double(), labels, reduction="none", ignore_index=-100)
    counts = (labels != -100).sum(1)
    return losses.sum(1) / counts.clamp(min=1), counts

SCORES: StashKey[dict[str, torch.Tensor]] = StashKey("scores")  # computed once per run


def _scores(learner):
    cache = learner.run_cache.setdefault(SCORES, {})
    if "trained" not in cache:
        task = task_of(learner)
        spec = task.spec
        ids = task.inputs["test"][:MAX_EXAMPLES].long()
        inputs, labels = mask_for_evaluation(ids, spec, seed=EVAL_MASK_SEED)
        keep = (labels != -100).any(1)
        inputs, labels, ids = inputs[keep], labels[keep], ids[keep]
        padding = ids == spec["pad_id"]
        V = spec["vocab_size"]
        logits = token_logits(trained_model(learner), inputs, V, padding_mask=padding)
        cache["trained"], counts = _example_losses(logits, labels)
        given = torch.where(labels != -100, inputs, -100)  # the copying probe: the token the model was given
        cache["current"] = float(_example_losses(logits, given)[0].mean())
        del logits
        cache["random"], _ = _example_losses(token_logits(random_init_model(learner), inputs, V, padding_mask=padding), labels)
        unigram = unigram_token_losses(task.inputs["train"], labels, V, ignore=spec["special_ids"])
        per_example = torch.zeros(len(labels), dtype=torch.float64)
        per_example.index_add_(0, torch.arange(len(labels)).repeat_interleave(counts), unigram)
        cache["unigram"] = per_example / counts
        cache["masked"] = int(counts.sum())
        record_loss_metrics(learner, cache, loss_name="masked-token loss (nats)", count_name="masked test tokens",
                            count=cache["masked"])
    return cache


def test_checkpoint_loads_into_your_model(learner):
    """your checkpoint loads into build_model(spec), every weight accounted for"""
    trained_model(learner)


def test_padding_does_not_reach_real_tokens(learner):
    """the logits at real tokens do not depend on how much padding follows an article"""
    task = task_of(learner)
    spec = task.spec
    diff = padding_change(trained_model(learner), task.inputs["test"], spec["pad_id"], out_size=spec["vocab_size"],
                          per_token=True)
    if diff > 1e-4:
        raise GradingFailure(
            f"The same test articles give different logits at their real tokens when more padding columns follow "
            f"them (max abs diff {diff:.3g}): padding reaches the real tokens.",
            "Nobody may attend to padding: pass padding_mask to every attention layer and mask the padded keys "
            "(scores.masked_fill(padding_mask[:, None, None, :], float('-inf'))) before the softmax.")


def test_masked_loss_clearly_below_word_frequencies(learner):
    """masked-token loss at least 0.5 nats below the unigram baseline, 95% bootstrap interval above zero"""
    scores = _scores(learner)
    check_unigram_margin(scores, what="Masked-token loss", probe=lambda: _probe(learner, scores), hint=(
        "A loss stuck near the unigram baseline means the model only learned word frequencies: train longer, "
        "use lr around 1e-3, and compute the loss on the masked positions only (ignore_index=-100)."))


def _probe(learner, scores):
    """The known failure shapes of a masked LM: copying the given token, ignoring the input, reading padding."""
    task = task_of(learner)
    spec = task.spec
    ids = task.inputs["test"][:16].long()
    model = trained_model(learner)
    return probes.first(
        lambda: probes.copies_input(current=scores["current"], target=float(scores["trained"].mean()), lm="masked"),
        lambda: probes.ignores_input(
            lambda x: token_logits(model, x, spec["vocab_size"], padding_mask=x == spec["pad_id"]), ids,
            keep=torch.isin(ids, torch.tensor(spec["special_ids"])), vocab_size=spec["vocab_size"],
            special=list(spec["special_ids"])),
        lambda: probes.reads_padding(padding_change(model, task.inputs["test"], spec["pad_id"],
                                                    out_size=spec["vocab_size"], per_token=True, rows=16)))


def test_masked_loss_clearly_below_random_init(learner):
    """masked-token loss at least 1.0 nats below the same model at random init"""
    check_random_margin(_scores(learner), what="Masked-token loss")


def test_bidirectional(learner):
    """a later token changes the prediction at an earlier masked position"""
    task = task_of(learner)
    spec = task.spec
    ids = task.inputs["test"][:200].long()
    special = torch.tensor(spec["special_ids"])
    regular = [i for i in range(spec["vocab_size"]) if i not in set(spec["special_ids"])]
    generator = torch.Generator().manual_seed(3)
    originals, changed, positions = [], [], []
    for row in ids:
        real = (~torch.isin(row, special)).nonzero().flatten()
        if len(real) < 4:
            continue
        p, q = int(real[0]), int(real[-1])  # mask an early word, change a late one
        masked = row.clone()
        masked[p] = spec["mask_id"]
        other = masked.clone()
        other[q] = regular[int(torch.randint(len(regular), (1,), generator=generator))]
        if other[q] == masked[q]:
            continue
        originals.append(masked)
        changed.append(other)
        positions.append(p)
        if len(originals) == 24:
            break
    before_ids, after_ids = torch.stack(originals), torch.stack(changed)
    padding = before_ids == spec["pad_id"]
    model = trained_model(learner)
    before = token_logits(model, before_ids, spec["vocab_size"], padding_mask=padding)
    after = token_logits(model, after_ids, spec["vocab_size"], padding_mask=padding)
    moved = sum(float((before[i, p] - after[i, p]).abs().max()) > 1e-5 for i, p in enumerate(positions))
    if moved < 0.8 * len(positions):
        raise GradingFailure(
            f"Changing the last word of a test article changed the prediction at an earlier [MASK] in only "
            f"{moved} of {len(positions)} articles: the model does not look to the right.",
            "BERT attends in both directions: no causal mask, only the padding mask.")


def _mask_call(learner, ids, padding, seed):
    spec = task_of(learner).spec
    value = learner.call("mask_tokens", None, [ids, padding], {
        "mask_id": spec["mask_id"], "vocab_size": spec["vocab_size"], "special_ids": list(spec["special_ids"]),
        "generator": GeneratorSeed(seed)}, what="mask_tokens(ids, padding_mask, ...)", return_args=True)
    result = value["result"]
    if not (isinstance(result, list) and len(result) == 2 and all(isinstance(t, torch.Tensor) for t in result)):
        raise GradingFailure(f"mask_tokens returned {describe_value(result)}, expected a tuple (inputs, labels).",
                             "Return two tensors shaped like ids: the corrupted inputs and the labels.")
    inputs, labels = result
    if inputs.shape != ids.shape or labels.shape != ids.shape:
        raise GradingFailure(f"mask_tokens returned shapes {tuple(inputs.shape)} and {tuple(labels.shape)}, "
                             f"expected {tuple(ids.shape)} for both.")
    if inputs.dtype != torch.int64 or labels.dtype != torch.int64:
        raise GradingFailure(f"mask_tokens returned dtypes {str(inputs.dtype).removeprefix('torch.')} and "
                             f"{str(labels.dtype).removeprefix('torch.')}, expected int64 for both.",
                             "Token ids are int64 (what nn.Embedding and F.cross_entropy's targets take): "
                             "torch.where keeps the dtype of ids when the scalars are ints.")
    return inputs.long(), labels.long(), value["args"]


def _within(observed: int, total: int, p: float) -> tuple[bool, str]:
    rate = observed / max(total, 1)
    sigma = math.sqrt(p * (1 - p) / max(total, 1))
    return abs(rate - p) <= SIGMAS * sigma, f"{rate:.2%} of {total} (expected {p:.0%} ± {SIGMAS * sigma:.2%})"


def test_masking_function_follows_bert(learner):
    """mask_tokens: 15% of eligible tokens; of those 80% [MASK], 10% random, 10% unchanged; labels -100 elsewhere"""
    task = task_of(learner)
    spec = task.spec
    ids = task.inputs["train"][:3000].long()
    padding = ids == spec["pad_id"]
    inputs, labels, args = _mask_call(learner, ids, padding, seed=11)
    if args and not torch.equal(args[0], ids):
        raise GradingFailure("mask_tokens modified its ids argument in place.", "Clone ids before corrupting them.")
    special = torch.tensor(spec["special_ids"])
    eligible = ~torch.isin(ids, special)
    picked = labels != -100
    problems = []
    if (picked & ~eligible).any():
        problems.append(f"{int((picked & ~eligible).sum())} padding or special tokens were picked (never pick them)")
    if not torch.equal(labels[picked], ids[picked]):
        problems.append("labels at picked positions are not the original token ids")
    if not torch.equal(inputs[~picked], ids[~picked]):
        problems.append("tokens that were not picked were changed")
    ok, text = _within(int(picked.sum()), int(eligible.sum()), spec.get("mask_prob", 0.15))
    if not ok:
        problems.append(f"picked {text}")
    n = int(picked.sum())
    as_mask = int((inputs[picked] == spec["mask_id"]).sum())
    kept = int((inputs[picked] == ids[picked]).sum())
    regular = spec["vocab_size"] - len(set(spec["special_ids"]))
    others = picked & (inputs != spec["mask_id"]) & (inputs != ids)
    for count, p, name in ((as_mask, 0.8, "replaced by [MASK]"), (kept, 0.1 + 0.1 / regular, "left unchanged"),
                           (int(others.sum()), 0.1 * (1 - 1 / regular), "replaced by a random token")):
        ok, text = _within(count, n, p)
        if not ok:
            problems.append(f"{name}: {text}")
    if torch.isin(inputs[others], special).any():
        problems.append("random replacements include special tokens (draw from the regular vocabulary)")
    if problems:
        raise GradingFailure("Your masking over " + f"{int(eligible.sum())} eligible tokens: " + "; ".join(problems) + ".",
                             "Pick with a Bernoulli(0.15) draw over eligible positions, then split the picked ones "
                             "80/10/10 with a second draw, using the generator you are given.")


def test_masking_uses_the_generator(learner):
    """mask_tokens draws from the generator it is given: the same seed gives the same masking"""
    task = task_of(learner)
    ids = task.inputs["train"][:200].long()
    padding = ids == task.spec["pad_id"]
    first, labels_a, _ = _mask_call(learner, ids, padding, seed=5)
    second, labels_b, _ = _mask_call(learner, ids, padding, seed=5)
    third, labels_c, _ = _mask_call(learner, ids, padding, seed=6)
    if not (torch.equal(first, second) and torch.equal(labels_a, labels_b)):
        raise GradingFailure("mask_tokens gave different results for the same generator seed.",
                             "Pass generator=generator to every torch.rand / torch.randint / torch.bernoulli call.")
    if torch.equal(labels_a, labels_c):
        raise GradingFailure("mask_tokens gave the same masking for different generator seeds.",
                             "The masking must be random: draw it from the generator.")
