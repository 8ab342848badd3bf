"""Hidden tests for bonus milestone 11, part 2: reverse, histogram and sort as hand-set
transformers, graded as tracr grades its compiled programs: exact at every position
on every input over {a, b, c, d} of length 1 to 5 (1,364 inputs).

Everything is computed here: the expected outputs, and the model's output again as
unembed(block_n(... block_1(embed(ids)))) from calls into its parts, so an answer
that does not go through the learner's TransformerBlocks is caught.
"""

import itertools

import pytest
import torch

from grader.judge.errors import LearnerException, MissingSymbol
from grader.judge.compare import GradingFailure, describe_value
from grader.protocol import Handle
from grader.judge.session import Remote

BOS, MAX_LEN = 0, 5
TOKENS = "abcd"  # ids 1..4
SHOW = 5  # wrong inputs listed in a message
# What an optimiser needs: gradients, by backpropagation or forward-mode AD (torch.func.jacfwd,
# torch.autograd.forward_ad). milestone.yaml forbids them; build() names the rule they break.
GRADIENTS = {"torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad", "torch._make_dual"}


def reverse(x):
    return list(reversed(x))


def histogram(x):
    return [x.count(t) for t in x]


def sort(x):
    return sorted(x)


PROGRAMS = {"reverse": (reverse, 1 + len(TOKENS)), "histogram": (histogram, MAX_LEN + 1), "sort": (sort, 1 + len(TOKENS))}


def all_inputs(length):
    """Every sequence over the four tokens of this length: (4^length, length + 1) ids, BOS first."""
    seqs = list(itertools.product(range(1, len(TOKENS) + 1), repeat=length))
    return seqs, torch.tensor([[BOS, *s] for s in seqs], dtype=torch.long)


def show(program, values):
    """Outputs as text: letters for reverse and sort (^ for BOS), digits for histogram."""
    if program == "histogram":
        return "".join(str(v) for v in values)
    return "".join(TOKENS[v - 1] if 1 <= v <= len(TOKENS) else "^" for v in values)


def word(x):
    return "".join(TOKENS[v - 1] for v in x)


def build(learner, program):
    name = f"build_{program}"
    value = learner.call(name, None, [], {}, what=f"{name}()")
    gradients = sorted(GRADIENTS & set(learner.last_builtins))
    if gradients:
        raise GradingFailure(
            f"{name}() computed gradients (it called {', '.join(gradients)}): weights fitted by an optimiser "
            "(torch.optim, a gradient step, even on one layer) are trained, not hand-coded, and this milestone "
            "forbids them.",
            "Write every weight from your construction, under torch.no_grad(): zero_(), fill_(), copy_() and "
            "index assignment. Nothing may call .backward(), torch.autograd.grad, torch.func's grad, jacrev or "
            "jacfwd, or forward-mode AD.")
    if not isinstance(value, Handle):
        raise GradingFailure(f"{name}() returned {describe_value(value)}, not an nn.Module.",
                             f"{name}() must return your model (an nn.Module) with its weights already set.")
    return Remote(learner, value, name).eval()


def logits_for(model, program, ids):
    """The model's logits (N, T, V_out) for ids (N, T), checked for shape and NaN."""
    v_out = PROGRAMS[program][1]
    got = model.infer(ids)
    if not isinstance(got, torch.Tensor) or not got.is_floating_point() or tuple(got.shape) != (*ids.shape, v_out):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else describe_value(got)
        raise GradingFailure(f"build_{program}()(ids) for ids of shape {tuple(ids.shape)}: expected float logits of "
                             f"shape {(*ids.shape, v_out)}, got {shape}.",
                             "See README.md for each program's output vocabulary (reverse and sort: the 5 input "
                             "ids; histogram: the counts 0..5).")
    if torch.isnan(got).any():
        raise GradingFailure(f"build_{program}()(ids) returned NaN logits for inputs of length {ids.shape[1] - 1}.",
                             "NaN usually comes from inf - inf: keep scores large but finite.")
    return got


# -- diagnosis of wrong outputs ----------------------------------------------------------------

def _shifted(x, offset):
    full = [BOS, *x]
    return [full[len(x) + 1 - i + offset] if 0 <= len(x) + 1 - i + offset <= len(x) else None
            for i in range(1, len(x) + 1)]


MISTAKE_PROGRAMS = {
    "reverse": [
        (lambda x: _shifted(x, -1), "Your reverse is off by one position: position i gets the token at L - i "
                                    "instead of L + 1 - i (BOS is position 0, the tokens are at 1..L)."),
        (lambda x: _shifted(x, +1), "Your reverse is off by one position: position i gets the token at L + 2 - i "
                                    "instead of L + 1 - i (BOS is position 0, the tokens are at 1..L)."),
        (lambda x: list(x), "Your output is the input in its own order: reverse fetches position L + 1 - i."),
    ],
    "histogram": [
        (lambda x: [min(c + 1, MAX_LEN) for c in histogram(x)],
         "Your counts are one too high: BOS is counted as a match (with BOS always attended, the "
         "attention weight on BOS is 1 / (n + 1), not 1 / n)."),
        (lambda x: [x[:i + 1].count(t) for i, t in enumerate(x)],
         "You count only up to this position (a causal mask?): the histogram counts the whole input."),
        (lambda x: [c - 1 for c in histogram(x)], "Your counts leave out the token itself."),
    ],
    "sort": [
        (lambda x: sorted(x, reverse=True), "Your sort is descending: smallest (a) first."),
    ],
}

SHARP_HINT = ("Attention that is not sharp enough mixes positions: softmax is only (nearly) hard when the wanted "
              "key's score beats every other key by a wide margin (tens, not ones). Scale the query-key products up.")


def leak_key(program, x, i):
    """What the right output at position i (1-based) may depend on."""
    length = len(x)
    if program == "reverse":
        return length, i, x[length - i]
    if program == "histogram":
        return length, i, x[i - 1], x.count(x[i - 1])
    return length, i, tuple(sorted(x))


def _explains(mistake, x, e, g) -> bool:
    """The mistake's program gives every wrong position, and no position where it says otherwise (None: the
    mistake's program does not say, e.g. a shift past the input's ends)."""
    return all((ei == gi and m is None) or (m is not None and m == gi) for m, ei, gi in zip(mistake(x), e, g))


def diagnose(program, outcomes):
    """A hint for the wrong outputs in outcomes [(x, expected, got)]: a known mistake that explains the whole
    output of every wrong input (not only its wrong positions: a mixing attention can look shifted there),
    an output that depends on what it must not (mixing), or ties."""
    wrong = [(x, e, g) for x, e, g in outcomes if e != g]
    for mistake, hint in MISTAKE_PROGRAMS[program]:
        if all(_explains(mistake, x, e, g) for x, e, g in wrong):
            return hint
    seen = {}
    for x, e, g in outcomes:
        for i in range(1, len(x) + 1):
            key = leak_key(program, x, i)
            first = seen.setdefault(key, (x, g[i - 1]))
            if first[1] != g[i - 1]:
                return (f"Your output at position {i} depends on tokens it should not: '{word(first[0])}' and "
                        f"'{word(x)}' must give the same '{show(program, [e[i - 1]])}' there, yours gave "
                        f"'{show(program, [first[1]])}' and '{show(program, [g[i - 1]])}'. " + SHARP_HINT)
    if program != "reverse" and all(len(set(x)) < len(x) for x, _, _ in wrong):
        return (f"Wrong only on inputs with repeated tokens (e.g. '{word(wrong[0][0])}'): how does your construction "
                "handle ties? Sorting by position needs unique keys: tracr breaks ties by position "
                "(equal tokens at earlier positions count as smaller).")
    return ("Follow the first wrong input through your model: print the residual stream after each block "
            "and check every group of dimensions against what your program should have written there.")


# -- tests --------------------------------------------------------------------------------------

@pytest.mark.parametrize("program", list(PROGRAMS))
def test_exact_on_every_input(learner, program):
    """exact at every position on all 1,364 inputs of length 1-5"""
    fn, _ = PROGRAMS[program]
    model = build(learner, program)
    outcomes = []
    for length in range(1, MAX_LEN + 1):
        seqs, ids = all_inputs(length)
        got = logits_for(model, program, ids).argmax(-1)[:, 1:]  # BOS's output is not graded
        outcomes += [(x, fn(list(x)), g) for x, g in zip(seqs, got.tolist())]
    wrong = [(x, e, g) for x, e, g in outcomes if e != g]
    learner.metrics[f"{program} accuracy"] = round(1 - len(wrong) / len(outcomes), 4)
    if wrong:
        listed = "\n".join(f"  {word(x)} -> expected {show(program, e)}, got {show(program, g)}"
                           for x, e, g in wrong[:SHOW])
        raise GradingFailure(f"{program} is wrong on {len(wrong)} of {len(outcomes)} inputs "
                             f"(argmax of the logits at positions 1..L; BOS not shown):\n{listed}",
                             diagnose(program, outcomes))


def _part(learner, model, program, method, *args):
    try:
        return model.method(method, *args)
    except (LearnerException, MissingSymbol) as error:
        raise GradingFailure(f"build_{program}() model.{method}(...) failed: {error}",
                             "The model must have embed(ids), blocks (an nn.ModuleList of your TransformerBlock) "
                             "and unembed(h), and forward(ids) = unembed(blocks[-1](...blocks[0](embed(ids)))). "
                             "See README.md.") from error


def _blocks(learner, model, program):
    count = _part(learner, Remote(learner, _part(learner, model, program, "get_submodule", "blocks"), "blocks"),
                  program, "__len__")
    if not isinstance(count, int) or count < 1:
        raise GradingFailure(f"build_{program}(): model.blocks is empty; the program must be computed through your "
                             "blocks.", "Put your TransformerBlocks in an nn.ModuleList called blocks.")
    blocks = []
    for i in range(count):
        handle = _part(learner, model, program, "get_submodule", f"blocks.{i}")
        block = Remote(learner, handle, f"blocks[{i}]")
        name = block.method("_get_name")
        if name != "TransformerBlock":
            raise GradingFailure(f"build_{program}(): model.blocks[{i}] is a {name}, not your TransformerBlock: the "
                                 "program must be computed through your blocks.",
                                 "Hand-coding means writing the weights of your milestone 3 block, not another "
                                 "module that computes the answer.")
        blocks.append(block)
    return blocks


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_computed_through_your_blocks(learner, program):
    """computed as unembed(your TransformerBlocks(embed(ids))), nothing else crossing positions"""
    model = build(learner, program)
    blocks = _blocks(learner, model, program)
    table = {}  # (position, token) -> embedding
    for length in range(1, MAX_LEN + 1):
        seqs, ids = all_inputs(length)
        h = _part(learner, model, program, "embed", ids)
        if not isinstance(h, torch.Tensor) or h.dim() != 3 or tuple(h.shape[:2]) != tuple(ids.shape):
            raise GradingFailure(f"build_{program}(): model.embed(ids) for ids {tuple(ids.shape)} returned "
                                 f"{tuple(h.shape) if isinstance(h, torch.Tensor) else describe_value(h)}, "
                                 "expected (B, T, d_model).", "embed adds a token and a position embedding.")
        for t, token in itertools.product(range(ids.shape[1]), range(1 + len(TOKENS))):
            rows = (ids[:, t] == token).nonzero().flatten().tolist()
            if not rows:
                continue
            first = table.setdefault((t, token), (h[rows[0], t].double(), word(seqs[rows[0]])))
            off = ((h[rows, t].double() - first[0]).abs() > 1e-6 * (1 + first[0].abs())).any(-1)
            if off.any():
                other = word(seqs[rows[int(off.nonzero()[0])]])
                raise GradingFailure(
                    f"build_{program}(): model.embed(ids) at position {t} differs between '{first[1]}' and "
                    f"'{other}', which hold the same token there: the embedding must depend only on its "
                    "token and position (not on other tokens or the length); all mixing of positions must happen "
                    "through your blocks.", "embed(ids) = token embedding + position embedding, nothing more.")
        for i, block in enumerate(blocks):
            h = block(h)
            if not isinstance(h, torch.Tensor) or h.dim() != 3:
                raise GradingFailure(f"build_{program}(): blocks[{i}](h) returned {describe_value(h)}.",
                                     "Each block maps (B, T, d_model) to (B, T, d_model).")
        chained = _part(learner, model, program, "unembed", h)
        flat = _part(learner, model, program, "unembed", h.reshape(-1, 1, h.shape[-1]))
        forward = logits_for(model, program, ids)
        if not isinstance(chained, torch.Tensor) or chained.shape != forward.shape:
            raise GradingFailure(f"build_{program}(): model.unembed(h) returned "
                                 f"{tuple(chained.shape) if isinstance(chained, torch.Tensor) else describe_value(chained)}"
                                 f", forward(ids) {tuple(forward.shape)}.", "unembed maps (B, T, d_model) to logits.")
        scale = 1e-5 * (1.0 + float(forward.abs().max()))
        if not isinstance(flat, torch.Tensor) or flat.numel() != chained.numel() or not torch.allclose(
                flat.reshape(chained.shape).double(), chained.double(), rtol=1e-5, atol=scale):
            raise GradingFailure(f"build_{program}(): model.unembed(h) at a position depends on other positions: "
                                 "it must read each position alone; all mixing of positions must happen through "
                                 "your blocks.", "unembed(h) is a linear readout applied position by position.")
        if not torch.allclose(chained.double(), forward.double(), rtol=1e-5, atol=scale):
            diff = float((chained.double() - forward.double()).abs().max())
            raise GradingFailure(f"build_{program}(): forward(ids) differs from unembed(blocks(embed(ids))) computed "
                                 f"through your blocks one by one (max abs diff {diff:.3g}, inputs of length "
                                 f"{length}): the answer must be computed through your blocks, with nothing else "
                                 "between embed and unembed.",
                                 "forward(ids): h = embed(ids); h = block(h) for each block (no mask); "
                                 "return unembed(h).")


@pytest.mark.parametrize("program", list(PROGRAMS))
def test_weights_come_from_your_construction(learner, program):
    """the same weights and outputs whatever the random seed (nothing random left)"""
    seqs, ids = all_inputs(MAX_LEN)
    built = []
    for seed in (0, 1):
        learner.seed(seed)
        model = build(learner, program)
        built.append((model.state_dict(), logits_for(model, program, ids)))
    (first, out_first), (second, out_second) = built
    if sorted(first) != sorted(second):
        raise GradingFailure(f"build_{program}() gave models with different parameter names after seeding 0 and 1.",
                             "Build the same modules every time.")
    differing = [name for name in first if not torch.equal(first[name], second[name])]
    if differing:
        raise GradingFailure(f"build_{program}() gave different weights after seeding the random generator with 0 "
                             f"and with 1: {', '.join(differing[:4])}{' ...' if len(differing) > 4 else ''}. "
                             "Some layer keeps its random initialisation.",
                             "Write every parameter yourself (zero_() or fill_() first, then set what you need); "
                             "no torch.randn, no nn.init left over.")
    if not torch.equal(out_first, out_second):
        raise GradingFailure(f"build_{program}() gave different outputs after seeding the random generator with 0 "
                             "and with 1: something outside the parameters keeps a random initialisation.",
                             "Write every tensor the model uses yourself; no random numbers.")
