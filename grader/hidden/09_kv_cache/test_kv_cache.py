"""Hidden tests for bonus milestone 9: incremental decoding with a key/value cache.

The learner's GPT is built from the AG News task's spec (random weights drawn
here, so their initialisation cannot hide a bug) and run in float64. The
uncached forward over the whole sequence is the reference: the cached forward,
one new token (or a chunk) at a time, must give the same logits at every step
(atol 1e-5). Probes on the cache the judge holds name the usual mistakes: a
position restarting at 0, cached keys masked away, a layer reading another
layer's cache, keys and values swapped."""

from __future__ import annotations

import pytest
import torch

from grader.judge.errors import LearnerException
from grader.judge.compare import GradingFailure, check_tensor, describe_value
from grader.judge.support import randint
from grader.judge.trained import build, task_of
from grader.judge.run_cache import StashKey

ATOL = 1e-5
SEED = 1234
MODELS: StashKey[dict] = StashKey("kv_models")  # (worker, dtype) -> the model built for it


# -- the learner's model, with non-trivial weights ------------------------------------------------------

def model_of(learner, dtype=torch.float64):
    """build_model(spec) at a fixed seed, every parameter redrawn, in ``dtype``, eval mode (one per worker)."""
    cache = learner.run_cache.setdefault(MODELS, {})
    key = (id(learner.worker), dtype)
    if key not in cache:
        learner.seed(SEED)
        model = build(learner).to(dtype).eval()
        model.load_state_dict(nontrivial_state(model, dtype), strict=True)
        cache[key] = model
    return cache[key]


def nontrivial_state(model, dtype) -> dict[str, torch.Tensor]:
    """The model's state with every parameter redrawn (N(0, 1/fan_in) matrices, norm weights near 1, biases
    around 0): zero-initialised projections would make attention, and so the cache, invisible. Tied
    parameters appear twice in a state dict; both copies get the same new values."""
    generator = torch.Generator().manual_seed(SEED)
    state = model.state_dict()
    names = {name for name, _, _ in model.parameters()}
    redrawn: list[tuple[torch.Tensor, torch.Tensor]] = []  # (old value, new value)
    for name, value in state.items():
        if not value.is_floating_point():
            continue
        twin = next((new for old, new in redrawn if old.shape == value.shape and torch.equal(old, value)), None)
        if twin is not None:
            state[name] = twin
        elif name in names:
            if value.dim() >= 2:
                new = torch.randn(value.shape, generator=generator, dtype=torch.float64) / value.shape[-1] ** 0.5
            else:
                new = torch.randn(value.shape, generator=generator, dtype=torch.float64) * 0.2
                new = new + (1.0 if name.endswith("weight") else 0.0)
            redrawn.append((value, new.to(dtype)))
            state[name] = new.to(dtype)
    return state


# -- calling it ------------------------------------------------------------------------------------------

def text_windows(learner, rng, batch: int, length: int) -> torch.Tensor:
    """(batch, length) token ids from different places of the test text."""
    stream = task_of(learner).inputs["test"]
    starts = torch.randint(0, len(stream) - length, (batch,), generator=rng)
    return torch.stack([stream[s:s + length].long() for s in starts.tolist()])


def forward(model, ids: torch.Tensor, cache=None, *, vocab: int, past: int = 0, n_layers: int | None = None):
    """(logits float64 (B, T, V), cache) from model(ids, cache=cache), every part of the answer validated."""
    b, t = ids.shape
    what = "model(ids)" if cache is None else f"model(ids, cache=...) with {past} cached and {t} new token(s)"
    if cache is None:
        got = model.infer(ids)
    else:
        try:
            got = model.infer(ids, cache=cache)
        except LearnerException as error:  # it ran without a cache (every test starts so): name the usual causes
            raise crashed(error, what, CACHED_CRASH)
    if not isinstance(got, (list, tuple)) or len(got) != 2:
        raise GradingFailure(f"{what} returned {describe_value(got)}; expected a pair (logits, cache).",
                             "forward returns (logits (B, T, V), cache), with or without a cache passed in.")
    logits, new_cache = got
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (b, t, vocab):
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else describe_value(logits)
        raise GradingFailure(f"{what} returned logits of shape {shape}, expected {(b, t, vocab)}.",
                             "Logits for the new tokens only: (B, T, V) where T = ids.shape[1].")
    check_cache(new_cache, batch=b, length=past + t, past=past, new=t, n_layers=n_layers, what=what)
    return logits.double(), new_cache


CACHED_CRASH = ("Your model runs without a cache but fails with one. Usual causes: the number of cached tokens P is "
                "the size of the cache's sequence axis (k.shape[-2] of (B, H, P, d)), not the heads axis; the mask for "
                "the new tokens is (T, P + T), rows P..P + T - 1 of the full causal mask; the cached keys and values "
                "are concatenated along the sequence axis.")


def crashed(error: LearnerException, what: str, hint: str) -> BaseException:
    """The learner's exception as a failure with a hint about the usual cause (a stub's TODO stays as it is)."""
    if error.type_name == "NotImplementedError" or "NotImplementedError" in error.message:
        return error
    return GradingFailure(f"{what} raised {error.message}" + (f"\n{error.traceback}" if error.traceback else ""), hint)


def check_cache(cache, *, batch: int, length: int, past: int, new: int, n_layers: int | None, what: str) -> None:
    if not isinstance(cache, (list, tuple)) or not cache:
        raise GradingFailure(f"{what} returned a cache that is {describe_value(cache)}; expected a list with one "
                             "(k, v) pair per layer.", "Return the cache as a list: [(k, v) for every layer].")
    if n_layers is not None and len(cache) != n_layers:
        raise GradingFailure(f"{what} returned a cache of {len(cache)} layers; the cache passed in had {n_layers}.",
                             "One (k, v) entry per layer, every call.")
    for layer, entry in enumerate(cache):
        if not isinstance(entry, (list, tuple)) or len(entry) != 2 or not all(isinstance(x, torch.Tensor) for x in entry):
            raise GradingFailure(f"{what}: layer {layer}'s cache entry is {describe_value(entry)}; expected (k, v), "
                                 "two tensors.", "Each layer's entry is the pair (keys, values).")
        for name, x in zip("kv", entry):
            if x.dim() not in (3, 4) or x.shape[0] != batch:
                raise GradingFailure(f"{what}: layer {layer}'s {name} has shape {tuple(x.shape)}; expected "
                                     f"(B={batch}, H, {length}, d_head) or (B={batch}, {length}, D).",
                                     "Cache keys and values batch first, with the sequence axis second to last.")
            if x.shape[-2] != length:
                raise GradingFailure(
                    f"{what}: layer {layer}'s cached {name} has {x.shape[-2]} positions along the sequence axis "
                    f"(dim -2), expected {length} (the {past} cached before plus the {new} new).",
                    "Only the new tokens' keys and values were returned: concatenate them to the cached ones "
                    "(torch.cat along the sequence axis)." if x.shape[-2] == new and past else
                    "The returned cache lacks the new tokens: append their keys and values before returning it."
                    if x.shape[-2] == past else "The cache grows by exactly the number of new tokens per call.")


def step_through(model, seq: torch.Tensor, prompt: int, *, vocab: int, chunk: int = 1):
    """Prefill seq[:, :prompt], then feed the rest ``chunk`` tokens at a time with the cache.
    Yields (start, logits (B, n, V), the cache passed in (None for the prefill), the ids passed in);
    every returned cache is checked on the way."""
    logits, cache = forward(model, seq[:, :prompt], vocab=vocab)
    yield 0, logits, None, seq[:, :prompt]
    start = prompt
    while start < seq.shape[1]:
        ids = seq[:, start:start + chunk]
        logits, new_cache = forward(model, ids, cache, vocab=vocab, past=start, n_layers=len(cache))
        yield start, logits, cache, ids
        cache, start = new_cache, start + ids.shape[1]


# -- diagnosis: what the learner's step does with a changed cache ------------------------------------------

def changed(cache, layer: int | None = None, positions: slice = slice(None), scale: float = 1.0, seed: int = 0):
    """A copy of the cache with noise added to keys and values (of one layer, or all) at ``positions``."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for i, (k, v) in enumerate(cache):
        if layer is None or i == layer:
            k, v = k.clone(), v.clone()
            k[..., positions, :] += scale * torch.randn(k[..., positions, :].shape, generator=generator, dtype=k.dtype)
            v[..., positions, :] += scale * torch.randn(v[..., positions, :].shape, generator=generator, dtype=v.dtype)
        out.append((k, v))
    return out


def logits_with(model, ids, cache, vocab) -> torch.Tensor:
    return forward(model, ids, cache, vocab=vocab, past=cache[0][0].shape[-2], n_layers=len(cache))[0]


def diagnose(model, ids, cache, expected: torch.Tensor, vocab: int) -> str:
    """A hint naming the mistake, from what the learner's step gives with transformed caches."""
    past = cache[0][0].shape[-2]
    if len(cache) > 1 and _close(logits_with(model, ids, cache[::-1], vocab), expected):
        return ("With the cache's layers in reverse order your model gives the right logits: return the cache first "
                "layer first, and let layer i read cache[i].")
    if all(k.shape == v.shape for k, v in cache) and _close(logits_with(model, ids, [(v, k) for k, v in cache], vocab),
                                                           expected):
        return "With keys and values swapped in the cache your model gives the right logits: k and v are swapped."
    base = logits_with(model, ids, cache, vocab)
    if past > 1 and _close(logits_with(model, ids, changed(cache, positions=slice(1, past)), vocab), base):
        return ("The new token ignored every cached key but the first: is the causal mask sliced from row 0 "
                "(causal[:T, :P + T]) instead of the new tokens' rows (causal[P:P + T, :P + T])?")
    return ""


def _close(got: torch.Tensor, expected: torch.Tensor) -> bool:
    return got.shape == expected.shape and bool(torch.isclose(got, expected, atol=ATOL, rtol=0).all())


GENERIC = ("The cached step differs from the full forward. Usual causes: the new tokens' positions must start at "
           "the cache length P (the size of the cache's sequence axis, k.shape[-2]), not at 0; the new tokens must "
           "attend to every cached key (mask rows P..P + T - 1); each layer reads its own cache entry.")


def compare_steps(learner, model, seq: torch.Tensor, prompt: int, *, chunk: int = 1, atol: float = ATOL) -> None:
    vocab = task_of(learner).spec["vocab_size"]
    full = forward(model, seq, vocab=vocab)[0]
    b = seq.shape[0]
    for start, logits, cache, ids in step_through(model, seq, prompt, vocab=vocab, chunk=chunk):
        if cache is None:
            check_tensor(logits, full[:, :prompt], what="model(prompt)", case=f"a prompt of {prompt} tokens vs "
                         f"the same positions of model(whole sequence of {seq.shape[1]})", atol=atol, rtol=0,
                         hint="Without a cache, the first positions of a longer sequence must give the same logits: "
                              "is your model causal?")
            continue
        expected = full[:, start:start + ids.shape[1]]
        if bool(torch.isclose(logits, expected, atol=atol, rtol=0).all()):
            continue
        hint = diagnose(model, ids, cache, expected, vocab) or GENERIC
        check_tensor(logits, expected, what=f"model(ids, cache) for positions {start}..{start + ids.shape[1] - 1}",
                     case=f"batch {b}, {start} cached tokens (a {prompt}-token prompt then "
                          f"{'one token' if chunk == 1 else f'chunks of {chunk}'} at a time), vs the full forward",
                     atol=atol, rtol=0, hint=hint)


# -- tests -----------------------------------------------------------------------------------------------

@pytest.mark.hint("forward(ids, cache=None) returns (logits, cache): the cache is a list with one (k, v) per layer.")
def test_forward_returns_logits_and_a_cache(learner, rng):
    """model(ids) returns (logits (B, T, V), cache) with one (k, v) per layer covering the T tokens"""
    b, t = randint(rng, 2, 3), randint(rng, 4, 20)
    forward(model_of(learner), text_windows(learner, rng, b, t), vocab=task_of(learner).spec["vocab_size"])


@pytest.mark.parametrize("prompt", ["one-token", "short", "long"])
@pytest.mark.hint("With a cache, ids holds only the new tokens; they sit at positions P.. (P = cached tokens).")
def test_step_by_step_logits_equal_the_full_forward(learner, rng, prompt):
    """a prompt, then one token at a time with the cache: every step's logits equal the uncached forward"""
    p = {"one-token": 1, "short": randint(rng, 2, 6), "long": randint(rng, 30, 60)}[prompt]
    steps, b = randint(rng, 6, 10), randint(rng, 2, 3)
    compare_steps(learner, model_of(learner), text_windows(learner, rng, b, p + steps), p)


@pytest.mark.hint("With a cache and several new tokens, new token i attends to keys 0..P + i: mask rows P..P + T - 1.")
def test_chunks_of_new_tokens_with_a_cache(learner, rng):
    """a prompt, then chunks of several new tokens at a time: logits equal the uncached forward"""
    p, chunk, b = randint(rng, 3, 12), randint(rng, 2, 4), randint(rng, 2, 3)
    model = model_of(learner)
    vocab = task_of(learner).spec["vocab_size"]
    seq = text_windows(learner, rng, b, p + 3 * chunk)
    logits, cache = forward(model, seq[:, :p], vocab=vocab)
    ids = seq[:, p:p + chunk]
    chunk_logits = forward(model, ids, cache, vocab=vocab, past=p, n_layers=len(cache))[0]
    later = ids.clone()
    later[:, -1] = (later[:, -1] + 1) % vocab  # change only the chunk's last token
    if not _close(forward(model, later, cache, vocab=vocab, past=p, n_layers=len(cache))[0][:, :-1],
                  chunk_logits[:, :-1]):
        raise GradingFailure(
            f"With {p} cached tokens and a chunk of {chunk} new ones, changing the chunk's last token changed the "
            "logits of the chunk's earlier tokens: they see the future.",
            "With a cache, the new tokens still need a causal mask among themselves: new token i may attend to "
            "keys 0..P + i (rows P..P + T - 1 of the full causal mask), not to every new token.")
    compare_steps(learner, model, seq, p, chunk=chunk)


def test_positions_continue_after_the_cache(learner, rng):
    """the token after a cached one sits at position 1: [x] then x again equals the full forward of [x, x]"""
    model = model_of(learner)
    vocab = task_of(learner).spec["vocab_size"]
    x = text_windows(learner, rng, 2, 1)
    _, cache = forward(model, x, vocab=vocab)
    step = forward(model, x, cache, vocab=vocab, past=1, n_layers=len(cache))[0]
    full = forward(model, torch.cat([x, x], dim=1), vocab=vocab)[0]
    if _close(step[:, 0], full[:, 1]):
        return
    alone = forward(model, x, vocab=vocab)[0]
    if _close(step[:, 0], alone[:, 0]):
        raise GradingFailure(
            "The token after one cached token gave exactly the logits of that token alone at position 0: the new "
            "token got position 0.", "Positions of the new tokens start at the cache length P: "
            "torch.arange(P, P + T), with P = k.shape[-2] of any layer's cached keys.")
    check_tensor(step[:, 0], full[:, 1], what="model(x, cache of [x])", case="the second of two equal tokens vs "
                 "the full forward of [x, x]", atol=ATOL, rtol=0,
                 hint=diagnose(model, x, cache, full[:, 1:], vocab) or
                 "The new token's position must be the cache length, the size of the cache's sequence axis "
                 "(k.shape[-2]), here 1.")


def test_the_new_token_attends_to_every_cached_position(learner, rng):
    """changing the cached keys and values at any position changes the next token's logits"""
    p, b = randint(rng, 6, 20), 2
    model = model_of(learner)
    vocab = task_of(learner).spec["vocab_size"]
    seq = text_windows(learner, rng, b, p + 1)
    _, cache = forward(model, seq[:, :p], vocab=vocab)
    ids = seq[:, p:]
    base = logits_with(model, ids, cache, vocab)
    for positions, words in ((slice(1, p), f"positions 1..{p - 1}"), (slice(0, 1), "position 0")):
        if _close(logits_with(model, ids, changed(cache, positions=positions, seed=1), vocab), base):
            raise GradingFailure(
                f"Changing the cached keys and values at {words} (of {p}) left the next token's logits unchanged: "
                "the new token does not attend to them.",
                "The new token ignored cached keys: is the causal mask sliced from row 0 (causal[:T, :P + T]) "
                "instead of the new tokens' rows (causal[P:P + T, :P + T])?" if words != "position 0" else
                "Every cached position must be visible to the new token.")


def test_each_layer_reads_its_own_cache(learner, rng):
    """changing one layer's cache changes the next token's logits, for every layer"""
    p = randint(rng, 4, 12)
    model = model_of(learner)
    vocab = task_of(learner).spec["vocab_size"]
    seq = text_windows(learner, rng, 2, p + 1)
    _, cache = forward(model, seq[:, :p], vocab=vocab)
    ids = seq[:, p:]
    base = logits_with(model, ids, cache, vocab)
    for layer in range(len(cache)):
        if _close(logits_with(model, ids, changed(cache, layer=layer, seed=layer), vocab), base):
            raise GradingFailure(
                f"Changing layer {layer}'s cached keys and values (of {len(cache)} layers) left the next token's "
                "logits unchanged.",
                "Does each layer read its own entry of the cache, cache[i] for layer i, and return its own?")


def test_cache_grows_by_one_per_step(learner, rng):
    """after a P-token prompt the cache holds P positions, then P + 1, P + 2, ... in every layer"""
    p, b = randint(rng, 2, 8), randint(rng, 2, 3)
    model = model_of(learner)
    vocab = task_of(learner).spec["vocab_size"]
    seq = text_windows(learner, rng, b, p + 4)
    for _ in step_through(model, seq, p, vocab=vocab):  # forward() checks every cache it returns
        pass


def test_generate_cached_is_greedy_decoding(learner, rng):
    """generate_cached(model, ids, n) appends the argmax of the full forward's logits, n times"""
    p, n, b = randint(rng, 5, 30), randint(rng, 15, 25), 2
    model = model_of(learner)
    vocab = task_of(learner).spec["vocab_size"]
    ids = text_windows(learner, rng, b, p)
    what = f"generate_cached(model, ids of shape {tuple(ids.shape)}, {n})"
    try:
        got = learner.function("generate_cached")(model.handle, ids, n)
    except LearnerException as error:  # the cached forward has its own tests: name generate_cached's usual mistake
        raise crashed(error, what, "After the prompt, feed only the new token with the cache (model(next_id, cache)): "
                      "feeding the whole sequence again adds it to the cache a second time, and the positions soon "
                      "run past block_size.")
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != (b, p + n) or got.dtype.is_floating_point:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else describe_value(got)
        raise GradingFailure(f"{what} returned {shape}; expected token ids of shape {(b, p + n)}.",
                             "Return the prompt followed by the new tokens: (B, T + max_new_tokens).")
    got = got.long()
    if not torch.equal(got[:, :p], ids):
        raise GradingFailure(f"{what}: the output does not start with the prompt.", "Return torch.cat([ids, new]).")
    if int(got.min()) < 0 or int(got.max()) >= vocab:
        raise GradingFailure(f"{what} returned token ids outside 0..{vocab - 1}.", "Take the argmax over dim=-1.")
    logits = forward(model, got[:, :-1], vocab=vocab)[0]  # the full forward over what was generated
    for t in range(p, p + n):
        chosen = logits[:, t - 1].gather(-1, got[:, t:t + 1]).squeeze(-1)
        best = logits[:, t - 1].max(-1).values
        if bool((chosen < best - 1e-6).any()):
            row = int((chosen < best - 1e-6).nonzero()[0])
            raise GradingFailure(
                f"{what}: token {t} of row {row} is {int(got[row, t])}, but the full forward's most likely token "
                f"there is {int(logits[row, t - 1].argmax())} (logit {float(best[row]):.4f} vs "
                f"{float(chosen[row]):.4f}).",
                "After the prompt, feed only the new token with the cache (model(next_id, cache)); feeding the whole "
                "sequence again adds it to the cache twice. Take the argmax at the last position.")


def test_float32(learner, rng):
    """in float32: every step's logits equal the uncached forward (atol 1e-4)"""
    p, steps, b = randint(rng, 3, 10), 5, 2
    model = model_of(learner, torch.float32)
    compare_steps(learner, model, text_windows(learner, rng, b, p + steps), p, atol=1e-4)
