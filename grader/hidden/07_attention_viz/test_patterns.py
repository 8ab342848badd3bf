"""Hidden tests for bonus milestone 7, model level: attention_patterns(model, ids) of the
learner's GPT, built from the task's spec at random init (no checkpoint needed).

What the judge can check without trusting the learner: the shape and that every
row is a probability distribution over the past (rows sum to 1, exactly 0 above
the diagonal); that the patterns are the ones the model computes its logits with
(the need_weights forward gives the same logits and the same patterns); that
index 0 really is the first layer (its scores for a query and a key depend on
those two tokens only); determinism, batch independence, prefixes, and that the
patterns follow the model's weights. Text comes from the task's test split.

That they are the model's *actual* attention is checked against an answer the
judge knows: it loads weights of its own into one MultiHeadAttention of the
model (through load_torch_weights, whose exactness test_weights.py checks
against nn.MultiheadAttention) with one head's query and key weights zeroed.
That head's true pattern is then uniform over the past, whatever its input;
patterns computed anywhere else (a separate "what attention looks like"
computation, another layer or head, or a decoy module the logits don't use)
fail. What the judge cannot see is the input each module gets, so a learner
who re-runs their own attention modules on some other input would pass this
one check; module-level exactness plus the consistency checks above are the
rest of the evidence."""

import torch

from grader.judge.compare import GradingFailure, check_tensor, describe_value
from grader.judge.support import randint
from grader.judge.trained import build, check_logits, task_of
from grader.judge.session import Remote

ATOL = 1e-5  # float32 patterns; rows sum to 1 within this


def text_ids(learner, rng, batch, length):
    """(batch, length) windows of real test text."""
    stream = task_of(learner).inputs["test"].long()
    starts = [randint(rng, 0, len(stream) - length - 1) for _ in range(batch)]
    return torch.stack([stream[s:s + length] for s in starts])


def sizes(rng, learner):
    """batch in {2, 3}, a length that differs from it and fits the context"""
    block = task_of(learner).spec["block_size"]
    batch = randint(rng, 2, 3)
    while (length := randint(rng, 6, min(20, block))) == batch:
        pass
    return batch, length


def random_model(learner, rng):
    learner.seed(randint(rng, 0, 2**31 - 1))
    return build(learner).eval()


def patterns_of(learner, model, ids, *, case):
    """attention_patterns(model, ids), checked for its type, rank, batch and sequence axes."""
    got = learner.call("attention_patterns", None, [model.handle, ids], {}, no_grad=True,
                       what="attention_patterns(model, ids)")
    b, t = ids.shape
    if not isinstance(got, torch.Tensor):
        raise GradingFailure(f"attention_patterns(model, ids) for {case} returned {describe_value(got)}, expected "
                             f"one tensor (n_layers, {b}, n_heads, {t}, {t}).",
                             "torch.stack the per-layer (B, H, T, T) weights along a new first axis.")
    if got.dim() != 5 or got.shape[1] != b or got.shape[3:] != (t, t):
        raise GradingFailure(
            f"attention_patterns(model, ids) for {case} (ids {tuple(ids.shape)}) returned shape {tuple(got.shape)}, "
            f"expected (n_layers, B, n_heads, T, T) = (n_layers, {b}, n_heads, {t}, {t}).",
            "Stack the layers on a new first axis: torch.stack(per_layer, dim=0), each (B, H, T, T) with rows = "
            "queries; not on the batch axis, and without averaging the heads.")
    if not got.is_floating_point() or not torch.isfinite(got).all():
        raise GradingFailure(f"attention_patterns(model, ids) for {case} returned NaN, inf or a non-float tensor.",
                             "NaN comes from a softmax over a row with every key masked.")
    return got.to(torch.float64)


def as_patterns(value, what):
    """A (L, B, H, T, T) tensor from a stacked tensor or a list of per-layer (B, H, T, T) tensors."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
        if len({tuple(v.shape) for v in value}) == 1:
            return torch.stack(value)
    raise GradingFailure(f"{what} gave {describe_value(value)} as its weights, expected a list of per-layer "
                         "(B, H, T, T) tensors (or one stacked tensor).",
                         "With need_weights=True, GPT.forward returns (logits, weights), one entry per layer.")


def test_patterns_are_distributions_over_the_past(learner, rng):
    """shape (n_layers, B, n_heads, T, T); every row sums to 1, no negative weights"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    got = patterns_of(learner, random_model(learner, rng), ids, case=f"ids {tuple(ids.shape)}")
    learner.metrics["patterns shape at random init"] = str(tuple(got.shape))
    if (got < 0).any():
        raise GradingFailure(f"attention_patterns returned negative weights (min {float(got.min()):.3g}).",
                             "Return the probabilities after the softmax, not the scores before it.")
    sums = got.sum(-1)
    worst = float((sums - 1).abs().max())
    if worst > ATOL:
        raise GradingFailure(
            f"Rows of the attention patterns should sum to 1 (each query's distribution over the keys); the worst "
            f"sums to {float(sums.flatten()[(sums - 1).abs().flatten().argmax()]):.6g} (ids {tuple(ids.shape)}).",
            "Softmax over the keys (dim=-1) after masking, and return those probabilities: not the scores before "
            "the softmax, not weights after dropout (attention_patterns must use eval mode), not transposed.")


def test_patterns_are_causal(learner, rng):
    """exactly 0 above the diagonal: no query attends to a later position"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    got = patterns_of(learner, random_model(learner, rng), ids, case=f"ids {tuple(ids.shape)}")
    future = torch.ones(t, t, dtype=torch.bool).triu(1)
    leak = got[..., future]
    if (leak != 0).any():
        where = (got * future).flatten(0, 2).abs().amax(0)  # (T, T): the worst leak per (query, key)
        q, k = divmod(int(where.argmax()), t)
        raise GradingFailure(
            f"The attention patterns put weight on the future: query {q} attends to key {k} with weight "
            f"{float(where[q, k]):.4g} (all entries above the diagonal must be exactly 0).",
            "Return the weights after the causal mask (mask the scores, then softmax), rows = queries; an "
            "off-by-one in the mask (triu(0) vs triu(1)) or transposed weights also show here.")


def test_logits_with_weights_equal_plain_logits(learner, rng):
    """model(ids, need_weights=True) gives the same logits as model(ids), and the patterns attention_patterns returns"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    vocab = task_of(learner).spec["vocab_size"]
    model = random_model(learner, rng)
    plain = check_logits(model.infer(ids), (b, t, vocab), "model(ids)")
    value = model.infer(ids, need_weights=True)
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise GradingFailure(f"model(ids, need_weights=True) returned {describe_value(value)}, expected "
                             "(logits, weights).", "GPT.forward(ids, need_weights=True) returns (logits, weights).")
    logits = check_logits(value[0], (b, t, vocab), "model(ids, need_weights=True)")
    check_tensor(logits, plain, what="the logits of model(ids, need_weights=True)", case=f"ids {tuple(ids.shape)}",
                 atol=1e-5, rtol=1e-4, check_dtype=False,
                 hint="Asking for the weights must not change what the model computes: the same masks, scaling, "
                      "layers and final LayerNorm on both paths.")
    weights = as_patterns(value[1], "model(ids, need_weights=True)").to(torch.float64)
    check_tensor(patterns_of(learner, model, ids, case=f"ids {tuple(ids.shape)}"), weights,
                 what="attention_patterns(model, ids)", case=f"ids {tuple(ids.shape)}", atol=1e-6, rtol=1e-5,
                 hint="attention_patterns must return exactly the weights of model(ids, need_weights=True), "
                      "stacked as (n_layers, B, n_heads, T, T), first layer first.")


def _renormalised(p, kept):
    """Each query's weights restricted to the unchanged keys and renormalised; (..., T, T)."""
    t = p.shape[-1]
    keys = kept[None, :] & torch.ones(t, t, dtype=torch.bool).tril()
    restricted = p * keys
    return restricted / restricted.sum(-1, keepdim=True).clamp_min(1e-30)


def _first_layer_like(before, after, rows, kept):
    """Per layer: the largest change of the renormalised weights of unchanged queries over unchanged keys."""
    diff = (_renormalised(before, kept) - _renormalised(after, kept)).abs()[..., rows, :]
    return diff.flatten(1).amax(1)  # (L,)


def test_first_layer_comes_first(learner, rng):
    """index 0 is the first layer: its scores for a (query, key) pair depend on those two tokens only"""
    b, t = sizes(rng, learner)
    t = max(t, 10)
    ids = text_ids(learner, rng, b, t)
    vocab = task_of(learner).spec["vocab_size"]
    changed_at = torch.zeros(t, dtype=torch.bool)
    changed_at[torch.randperm(t - 2, generator=rng)[: t // 2] + 1] = True  # about half of positions 1..T-2
    changed = ids.clone()
    shift = torch.randint(1, vocab - 2, (b, t), generator=rng)
    changed[:, changed_at] = (ids[:, changed_at] - 2 + shift[:, changed_at]) % (vocab - 2) + 2  # another real token
    model = random_model(learner, rng)
    before = patterns_of(learner, model, ids, case=f"ids {tuple(ids.shape)}")
    after = patterns_of(learner, model, changed, case=f"ids {tuple(ids.shape)} with some tokens changed")
    kept = ~changed_at
    rows = kept & (torch.arange(t) > 0)
    change = _first_layer_like(before, after, rows, kept)
    learner.metrics["first-layer check: change per layer"] = [float(f"{c:.2g}") for c in change.tolist()]
    if float(change[0]) > 1e-4:
        others = [i for i in range(1, len(change)) if float(change[i]) <= 1e-4]
        where = (f" Index {others[0]} behaves like the first layer: the layers are in reverse order?" if others else
                 "")
        raise GradingFailure(
            f"patterns[0] is not the first layer's attention: changing tokens at positions "
            f"{changed_at.nonzero().flatten().tolist()} changed how other queries split their weight between "
            f"unchanged keys (by up to {float(change[0]):.3g}). In the first layer a query's score for a key "
            f"depends on those two tokens only.{where}",
            "Collect one pattern per layer in forward order, first layer first (append inside the loop over "
            "blocks, don't overwrite), and compute the first layer's attention from the embeddings.")


def test_patterns_are_deterministic_with_dropout_off(learner, rng):
    """attention_patterns switches dropout off: the same ids twice give the same patterns, even from train mode"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    model = random_model(learner, rng).train()
    first = patterns_of(learner, model, ids, case="a model left in train mode")
    second = patterns_of(learner, model, ids, case="a model left in train mode, second call")
    check_tensor(second, first, what="attention_patterns(model, ids) called twice", case="a model in train mode",
                 atol=1e-7, rtol=0, hint="Dropout is active: attention_patterns must call model.eval() (and may "
                                         "restore the training mode afterwards).")
    check_tensor(first, patterns_of(learner, model.eval(), ids, case="the model in eval mode"),
                 what="attention_patterns(model, ids) from train mode", case="vs the same model in eval mode",
                 atol=1e-6, rtol=1e-5, hint="Dropout is active: attention_patterns must call model.eval().")


def test_batch_items_are_independent(learner, rng):
    """the patterns of a batch item alone equal its patterns inside the batch"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    model = random_model(learner, rng)
    full = patterns_of(learner, model, ids, case=f"ids {tuple(ids.shape)}")
    alone = patterns_of(learner, model, ids[-1:], case="the last item alone")
    check_tensor(alone, full[:, -1:], what="the last batch item's patterns", case="alone vs inside the batch",
                 atol=1e-6, rtol=1e-5, hint="The batch axis is mixed with another (stacking on the wrong axis?).")


def test_prefix_patterns_agree(learner, rng):
    """a prefix of the text gets the top-left corner of the full text's patterns"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    cut = randint(rng, 2, t - 1)
    model = random_model(learner, rng)
    full = patterns_of(learner, model, ids, case=f"ids {tuple(ids.shape)}")
    prefix = patterns_of(learner, model, ids[:, :cut], case=f"the first {cut} tokens")
    check_tensor(prefix, full[..., :cut, :cut], what=f"the patterns of the first {cut} tokens",
                 case=f"vs the top-left {cut}x{cut} corner of the patterns of all {t}", atol=1e-6, rtol=1e-5,
                 hint="A causal model's attention at position t depends on tokens 0..t only.")


def test_heads_have_their_own_patterns(learner, rng):
    """with several heads, the heads of the first layer do not all share one pattern (at random init)"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    got = patterns_of(learner, random_model(learner, rng), ids, case=f"ids {tuple(ids.shape)}")
    if got.shape[2] > 1 and float((got[0] - got[0, :, :1]).abs().max()) < 1e-7:
        raise GradingFailure(f"All {got.shape[2]} heads of the first layer have exactly the same pattern.",
                             "The weights are averaged over heads (nn.MultiheadAttention's default "
                             "average_attn_weights=True) or one head is repeated: return each head's own pattern.")


def test_patterns_follow_the_weights(learner, rng):
    """another initialisation gives other patterns; loading a model's weights gives that model's patterns"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    first, second = random_model(learner, rng), random_model(learner, rng)
    want = patterns_of(learner, first, ids, case="model A")
    other = patterns_of(learner, second, ids, case="model B")
    if other.shape == want.shape and float((other - want).abs().max()) < 1e-7:
        raise GradingFailure("Two models with different random weights gave exactly the same patterns.",
                             "The patterns must come from this model's own attention, computed on these ids.")
    second.load_state_dict(first.state_dict())
    check_tensor(patterns_of(learner, second, ids, case="model B after loading A's weights"), want,
                 what="attention_patterns of model B after loading model A's state_dict", case="vs model A",
                 atol=1e-6, rtol=1e-5, hint="Patterns must be computed from the model's current weights.")


# --- the patterns are the model's own attention: judge-chosen weights, judge-known answer ----------


def _attention_modules(learner, model) -> list[tuple[str, int, bool]]:
    """(path, d_model, bias) of the model's MultiHeadAttention modules, in registration order.

    Candidates are the module paths whose parameters add up to what nn.MultiheadAttention(d_model, ...)
    holds (4 d^2, plus 4 d with biases); the worker confirms the class name of each."""
    sizes_of: dict[str, int] = {}
    for name, shape, _ in model.parameters():
        parts = name.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            sizes_of[prefix] = sizes_of.get(prefix, 0) + int(torch.Size(shape).numel())
    found: list[tuple[str, int, bool]] = []
    for path, count in sizes_of.items():
        if any(path.startswith(f"{p}.") for p, _, _ in found):
            continue
        shape = next(((d, bias) for d in range(1, int(count ** 0.5) + 1) for bias in (True, False)
                      if 4 * d * d + (4 * d if bias else 0) == count), None)
        if shape is None:
            continue
        handle = model.method("get_submodule", path)
        if learner.call(handle, "_get_name", [], {}, what=f"the class of model.{path}") == "MultiHeadAttention":
            found.append((path, *shape))
    return found


def _with_weights(learner, model, path, mha, kwargs):
    module = Remote(learner, model.method("get_submodule", path), f"model.{path}")
    module.method("load_torch_weights", learner.reference_module(mha, "MultiheadAttention", kwargs, torch.float32))


def test_patterns_are_the_models_own_attention(learner, rng):
    """patterns[l, :, h] is head h of the model's l-th MultiHeadAttention: loaded through load_torch_weights with
    that head's query and key weights zeroed, exactly that pattern becomes uniform over the past (the judge's
    answer), nothing before it changes, and the logits change"""
    b, t = sizes(rng, learner)
    ids = text_ids(learner, rng, b, t)
    model = random_model(learner, rng)
    shape = patterns_of(learner, model, ids, case=f"ids {tuple(ids.shape)}").shape  # (L, B, H, T, T)
    layers, heads = shape[0], shape[2]
    vocab = task_of(learner).spec["vocab_size"]
    modules = _attention_modules(learner, model)
    if len(modules) != layers:
        raise GradingFailure(
            f"build_model(spec)'s model has {len(modules)} MultiHeadAttention module(s) "
            f"({', '.join(p for p, _, _ in modules) or 'none'}), but attention_patterns returned {layers} layers.",
            "Build the GPT's blocks with your MultiHeadAttention class (the tests load known weights into it "
            "through load_torch_weights) and return one pattern per block.")
    layer, head = randint(rng, 0, layers - 1), randint(rng, 0, heads - 1)
    path, d_model, bias = modules[layer]
    d_head = d_model // heads
    kwargs = {"embed_dim": d_model, "num_heads": heads, "batch_first": True, "bias": bias}
    mha = torch.nn.MultiheadAttention(**kwargs)
    with torch.no_grad():
        for name, p in mha.named_parameters():
            p.copy_(torch.randn(p.shape, generator=rng) * (0.5 if "bias" in name else d_model ** -0.5))
    _with_weights(learner, model, path, mha, kwargs)
    before = patterns_of(learner, model, ids, case="known weights").transpose(1, 2)  # (L, H, B, T, T)
    logits_before = check_logits(model.infer(ids), (b, t, vocab), "model(ids)")
    with torch.no_grad():
        for start in (head * d_head, d_model + head * d_head):  # this head's query rows, then its key rows
            mha.in_proj_weight[start:start + d_head] = 0
            if bias:
                mha.in_proj_bias[start:start + d_head] = 0
    _with_weights(learner, model, path, mha, kwargs)
    after = patterns_of(learner, model, ids, case="one head zeroed").transpose(1, 2)
    logits_after = check_logits(model.infer(ids), (b, t, vocab), "model(ids)")

    uniform = torch.ones(t, t, dtype=torch.float64).tril()
    uniform = (uniform / uniform.sum(-1, keepdim=True)).expand(b, t, t)
    is_uniform = (after - uniform).abs().amax((2, 3, 4)) < 1e-6  # (L, H)
    where = f"head {head} of the MultiHeadAttention at model.{path} (layer {layer})"
    if float((before[layer, head] - uniform).abs().max()) < 1e-4:
        raise GradingFailure(
            f"patterns[{layer}, :, {head}] stayed uniform over the past although {where} was given random weights.",
            "The patterns must be the softmax weights the model's own attention computes from its current weights.")
    if not bool(is_uniform[layer, head]):
        others = [f"patterns[{l}, :, {h}]" for l, h in is_uniform.nonzero().tolist()]
        moved = f" {', '.join(others)} became uniform instead: layers or heads out of order?" if others else ""
        raise GradingFailure(
            f"With the query and key weights of {where} zeroed, every score of that head is 0, so its true "
            f"attention is uniform over the past (1/(i+1) for each key j <= i); patterns[{layer}, :, {head}] "
            f"differs by up to {float((after[layer, head] - uniform).abs().max()):.3g}.{moved}",
            "Return the weights each attention module actually computes, layer by layer and head by head, "
            "not a separate computation of what attention should look like.")
    unchanged = torch.ones(layers, heads, dtype=torch.bool)
    unchanged[layer:] = False
    unchanged[layer] = torch.arange(heads) != head
    check_tensor(after[unchanged], before[unchanged], what="the patterns of the other heads and earlier layers",
                 case=f"after zeroing {where}", atol=1e-6, rtol=1e-5,
                 hint="Changing one head of one layer changes only that head's pattern (and later layers).")
    moved_by = float((logits_after - logits_before).abs().max())
    learner.metrics["own-attention check"] = (f"zeroed {where}: its pattern was "
                                              f"{float((before[layer, head] - uniform).abs().max()):.2g} from uniform, "
                                              f"the logits moved by {moved_by:.2g}")
    if moved_by < 1e-6:
        raise GradingFailure(f"Zeroing the query and key weights of {where} changed its pattern but not the logits.",
                             "The model must compute its output with the attention modules the patterns come from.")
