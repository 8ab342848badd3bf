"""Bonus milestone 12: Jacob Hilton's transformer chapter, with your own GPT.

Four parts, all in this file (the harness loads this file alone):

1. Paste your GPT from gpt.py (milestone 6), and make build_model(spec) build
   every size the spec holds.
2. Answer the four questions in ANSWERS, in your own words, with your
   CONFIDENCE in each (1 = a guess, 5 = sure). Not graded: shown in your report.
3. Compute four numbers from a spec of sizes (parameter_count, qkv_shapes,
   forward_flops_per_token, kv_cache_bytes): graded against your model.
4. Train it to reverse random sequences x_1..x_n SEP x_n..x_1, then run
   `challenge train hilton` and `challenge test hilton`.

Shapes: B = batch, T = sequence length, D = d_model, H = n_heads, V = vocab_size.
"""

from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- Part 1: your GPT from milestone 6 ----------------------------------------------
# Paste your LayerNorm, MultiHeadAttention, block and GPT classes here.


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.0


def config_from(spec: dict) -> GPTConfig:
    """The spec's sizes where it has them, your defaults elsewhere. The tests ask build_model and the
    functions of part 3 about specs with vocab_size, block_size, d_model, n_heads, n_layers and d_ff; the
    training spec has vocab_size and block_size only."""
    return GPTConfig(**{f.name: spec[f.name] for f in fields(GPTConfig) if f.name in spec})


def build_model(spec: dict) -> nn.Module:
    """Called by the harness: to train, to load your checkpoint, and to count your parameters."""
    raise NotImplementedError("TODO(hilton): paste your GPT from milestone 6 and return GPT(config_from(spec))")


# --- Part 2: the questions, in your own words ----------------------------------------
# Plain string literals only (no f-strings, names or calls): the report reads them without running
# this file. Up to 4,000 characters each.

ANSWERS = {
    # How do recurrence and time differ between a transformer and an RNN such as an LSTM?
    "recurrence": "TODO(hilton): your answer",
    # What are the dimensions of Q, K and V, why this setup, and what other ways could combine Q and K
    # into weights?
    "qkv": "TODO(hilton): your answer",
    # Are the dense layers different in each block, and why?
    "dense_layers": "TODO(hilton): your answer",
    # Why so many skip connections, and what would happen without them?
    "skip_connections": "TODO(hilton): your answer",
}
CONFIDENCE = {"recurrence": None, "qkv": None, "dense_layers": None, "skip_connections": None}  # 1-5 each


# --- Part 3: numbers computed from the sizes ----------------------------------------


def parameter_count(spec: dict) -> int:
    """The number of parameters of build_model(spec), every tensor once (a tied head is not a second matrix).
    Compute it from the sizes, without building the model."""
    raise NotImplementedError("TODO(hilton): embeddings + n_layers x (one block) + the final LayerNorm")


def qkv_shapes(spec: dict, batch_size: int, seq_len: int) -> dict:
    """{'q': shape, 'k': shape, 'v': shape}: the shapes inside one attention layer of build_model(spec),
    after the split into heads, for batch_size sequences of seq_len tokens. Each shape a tuple of ints."""
    raise NotImplementedError("TODO(hilton): (batch, heads, seq_len, d_head) each")


def forward_flops_per_token(spec: dict, context_len: int) -> float:
    """FLOPs of one forward pass per token, at a context of context_len tokens: 2 x N + 2 x n_layers x
    context_len x d_model, N = every parameter except the token and position embeddings (Kaplan et al. 2020)."""
    raise NotImplementedError("TODO(hilton): 2 x non-embedding parameters + the attention term")


def kv_cache_bytes(spec: dict, batch_size: int, context_len: int, dtype: str) -> int:
    """Bytes a KV cache of build_model(spec) holds for batch_size sequences of context_len tokens, stored
    in dtype: 'float32', 'float16' or 'bfloat16'."""
    raise NotImplementedError("TODO(hilton): keys and values, every layer, every token, bytes per element")


# --- Part 4: the reversal task ------------------------------------------------------


@torch.no_grad()
def accuracy_per_position(model: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """(2n,) share of ``rows`` (N, 2n + 1) whose token t + 1 is the model's argmax at position t. Given."""
    was_training = model.training
    model.eval()
    predicted = model(rows[:, :-1]).argmax(-1)  # (N, 2n)
    model.train(was_training)
    return (predicted == rows[:, 1:]).float().mean(0)


def show_accuracy_per_position(accuracy: torch.Tensor, spec: dict) -> None:
    """Print one bar per position (`challenge train` shows what you print). Given."""
    n = spec["half_len"]
    print(f"accuracy per position (validation; chance = 1/{spec['n_symbols']} = {1 / spec['n_symbols']:.1%})")
    for t, value in enumerate(accuracy.tolist()):
        predicts = f"x{t + 2}" if t < n - 1 else "SEP" if t == n - 1 else f"x{2 * n - t}"
        print(f"  pos {t:2d} predicts {predicts:>3}  {value:6.1%} {'#' * round(40 * value)}")


def train(model: nn.Module, task) -> None:
    """Train ``model`` in place on reversal until ``task.should_stop()``; the harness saves it afterwards.

    task.batches(batch_size)             endless (rows (B, 2n + 1), padding_mask) on task.device; a row is
                                         x_1 .. x_n SEP x_n .. x_1 (the padding mask is all False)
    task.validation_batches(batch_size)  one pass over the validation rows, same layout
    task.spec                            vocab_size, n_symbols, sep_id, half_len (n), block_size (2n), ...
    task.log(step, loss, **metrics)      progress bar and training log; log first_half_acc and
                                         second_half_acc (curves.png draws them)
    task.should_stop(), task.time_left(), task.seed, task.device
    """
    raise NotImplementedError(
        "TODO(hilton): inputs = rows[:, :-1], targets = rows[:, 1:], cross-entropy over every position, a step; "
        "stop when task.should_stop() is True or once the second half is right; then "
        "show_accuracy_per_position(accuracy_per_position(model, validation_rows), task.spec)"
    )
