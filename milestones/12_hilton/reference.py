"""Reference solution for bonus milestone 12 (shown by `challenge peek hilton`).

Jacob Hilton's deep learning curriculum, chapter 1 (transformers): the GPT of
milestone 6 (pre-LN blocks, learned positions, a head tied to the token
embedding), four written answers, four numbers computed from the model's
sizes, and the reversal task that checks the causal mask: trained on
``x_1 .. x_n SEP x_n .. x_1`` it gets the second half right and the first half
only at chance. The reference reaches 100% on the second half after ~50 steps
of 32 sequences (about a CPU minute) and stops itself.

Shapes: B = batch, T = sequence length, D = d_model, H = n_heads, V = vocab_size.
"""

import math
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
import torch.nn.functional as F

# --- Part 1: your GPT from milestone 6 ----------------------------------------------


class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        """mask: bool (T, T), True = may attend."""
        B, T, D = x.shape
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in self.qkv(x).split(D, -1))
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_head)  # (B, H, T, T)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = self.dropout(torch.softmax(scores, -1))
        y = (weights @ v).transpose(1, 2).contiguous().view(B, T, D)  # (B, T, D)
        return self.out(y)


class Block(nn.Module):
    """Pre-LN block: x + attention(norm(x)), then x + MLP(norm(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None):
        x = x + self.dropout(self.attn(self.norm1(x), mask))
        return x + self.mlp(self.norm2(x))


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.0


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.tok_emb = nn.Embedding(config.vocab_size, config.d_model)
        self.pos_emb = nn.Embedding(config.block_size, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(
            Block(config.d_model, config.n_heads, config.d_ff, config.dropout) for _ in range(config.n_layers)
        )
        self.norm = LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight  # weight tying: one matrix reads and writes tokens
        causal = torch.tril(torch.ones(config.block_size, config.block_size, dtype=torch.bool))
        self.register_buffer("causal", causal, persistent=False)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """ids: (B, T) int64 with T <= block_size. Returns logits (B, T, V); logits[:, t]
        depend on ids[:, :t + 1] only."""
        B, T = ids.shape
        x = self.dropout(self.tok_emb(ids) + self.pos_emb(torch.arange(T, device=ids.device)))  # (B, T, D)
        mask = self.causal[:T, :T]
        for block in self.blocks:
            x = block(x, mask)
        return self.head(self.norm(x))  # (B, T, V)


def config_from(spec: dict) -> GPTConfig:
    """The spec's sizes where it has them (the tests ask about other sizes), the defaults above elsewhere."""
    return GPTConfig(**{f.name: spec[f.name] for f in fields(GPTConfig) if f.name in spec})


def build_model(spec: dict) -> nn.Module:
    return GPT(config_from(spec))


# --- Part 2: the questions, in your own words ----------------------------------------

ANSWERS = {
    "recurrence": (
        "An RNN or LSTM walks through time: step t updates a hidden state from step t-1, so information from "
        "early tokens must survive many updates through one fixed-size vector, and training cannot run the steps "
        "in parallel. A transformer has no recurrence over positions: every position reads every allowed earlier "
        "position directly through attention in one step, all positions are computed at once, and the depth (the "
        "number of blocks) is fixed, not the sequence length. Time is not built in: attention is permutation "
        "equivariant, so the order of tokens comes only from position embeddings (and, in a GPT, the causal mask)."
    ),
    "qkv": (
        "For input (B, T, d_model) each head projects to Q, K, V of (B, T, d_head) with d_head = d_model / n_heads; "
        "with heads, (B, H, T, d_head). Scores Q K^T / sqrt(d_head) are (B, H, T, T): one weight per query-key pair, "
        "softmaxed over keys, then mixed over V. Separate Q and K let what a token looks for differ from what it "
        "offers, V separates what is passed on from how it is found, and several small heads attend to several "
        "things at once for the cost of one big one. The sqrt keeps the softmax from saturating. Other ways to turn "
        "Q and K into weights: additive attention (an MLP of q + k, Bahdanau), a bilinear form q^T W k, distances "
        "(RBF kernels), linear attention with feature maps phi(q) phi(k)^T instead of a softmax, sigmoid or ReLU "
        "instead of softmax, or relative-position terms added to the scores (ALiBi, RoPE)."
    ),
    "dense_layers": (
        "Yes: each block has its own MLP weights (and its own attention weights); nothing is shared across depth. "
        "Each layer works on a different representation (later layers read features built by earlier ones), so "
        "they compute different functions, and separate weights add capacity. Within one block, though, the same "
        "MLP is applied to every position: it is shared across time, not across depth. Sharing across depth "
        "(ALBERT, universal transformers) saves parameters but usually costs quality at the same compute."
    ),
    "skip_connections": (
        "Each sublayer adds to a residual stream, x + f(x), instead of replacing it. The identity path lets "
        "gradients reach early layers undiminished, so deep stacks train (no vanishing gradients, and each layer "
        "starts near the identity); it also lets layers write small, composable updates into a shared stream that "
        "later layers and heads read, and keeps token identity and position available everywhere. Without them a "
        "deep transformer trains badly or not at all: gradients vanish or explode, attention and LayerNorm can "
        "wash out token information (rank collapse), and a 12-layer model does worse than a shallow one."
    ),
}
CONFIDENCE = {"recurrence": 5, "qkv": 4, "dense_layers": 4, "skip_connections": 4}  # 1 = a guess, 5 = sure


# --- Part 3: numbers computed from the sizes ----------------------------------------

BYTES_PER_ELEMENT = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int8": 1}


def parameter_count(spec: dict) -> int:
    """Parameters of build_model(spec), every tensor once (the tied head is the token embedding)."""
    c = config_from(spec)
    d, f = c.d_model, c.d_ff
    embeddings = c.vocab_size * d + c.block_size * d  # tokens and positions; the head shares tok_emb
    per_block = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d)  # 2 LayerNorms, qkv, out, MLP
    return embeddings + c.n_layers * per_block + 2 * d  # + the final LayerNorm


def qkv_shapes(spec: dict, batch_size: int, seq_len: int) -> dict:
    """Shapes of q, k and v inside one attention layer, after the split into heads."""
    c = config_from(spec)
    shape = (batch_size, c.n_heads, seq_len, c.d_model // c.n_heads)  # (B, H, T, d_head)
    return {"q": shape, "k": shape, "v": shape}


def forward_flops_per_token(spec: dict, context_len: int) -> float:
    """Kaplan et al. (2020): 2 FLOPs per non-embedding parameter (a multiply and an add), plus the
    attention scores and the weighted sum over context_len keys in every layer."""
    c = config_from(spec)
    non_embedding = parameter_count(spec) - c.vocab_size * c.d_model - c.block_size * c.d_model
    return 2 * non_embedding + 2 * c.n_layers * context_len * c.d_model


def kv_cache_bytes(spec: dict, batch_size: int, context_len: int, dtype: str) -> int:
    """Keys and values of every layer for context_len tokens: 2 x n_layers x B x T x d_model elements."""
    c = config_from(spec)
    return 2 * c.n_layers * batch_size * context_len * c.d_model * BYTES_PER_ELEMENT[dtype]


# --- Part 4: the reversal task ------------------------------------------------------


@torch.no_grad()
def accuracy_per_position(model: nn.Module, rows: torch.Tensor) -> torch.Tensor:
    """(2n,) share of ``rows`` (N, 2n + 1) whose token t + 1 is the model's argmax at position t."""
    was_training = model.training
    model.eval()
    predicted = model(rows[:, :-1]).argmax(-1)  # (N, 2n)
    model.train(was_training)
    return (predicted == rows[:, 1:]).float().mean(0)


def show_accuracy_per_position(accuracy: torch.Tensor, spec: dict) -> None:
    """Print one bar per position: the first half should stay at chance, the second reach 100%."""
    n = spec["half_len"]
    print(f"accuracy per position (validation; chance = 1/{spec['n_symbols']} = {1 / spec['n_symbols']:.1%})")
    for t, value in enumerate(accuracy.tolist()):
        predicts = f"x{t + 2}" if t < n - 1 else "SEP" if t == n - 1 else f"x{2 * n - t}"
        print(f"  pos {t:2d} predicts {predicts:>3}  {value:6.1%} {'#' * round(40 * value)}")


@dataclass
class TrainConfig:
    batch_size: int = 32
    lr: float = 1e-3
    warmup_steps: int = 20
    grad_clip: float = 1.0
    eval_every: int = 10
    eval_rows: int = 500  # validation sequences per check: enough to see 99%, cheap
    done_at: float = 0.99  # stop once every second-half position is right this often ...
    done_checks: int = 2  # ... at this many checks in a row


def train(model: nn.Module, task) -> None:
    cfg = TrainConfig()
    torch.manual_seed(task.seed)
    model.to(task.device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.0)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: min(1.0, (step + 1) / cfg.warmup_steps))
    n = task.spec["half_len"]
    validation = next(task.validation_batches(cfg.eval_rows))[0]  # (N, 2n + 1): x_1..x_n SEP x_n..x_1
    good_checks, step = 0, 0
    for step, (rows, _padding) in enumerate(task.batches(cfg.batch_size)):  # rows: (B, 2n + 1)
        if task.should_stop():
            break
        inputs, targets = rows[:, :-1], rows[:, 1:]  # logits[:, t] predicts rows[:, t + 1]
        logits = model(inputs)  # (B, 2n, V)
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        warmup.step()
        if step % cfg.eval_every == 0:
            accuracy = accuracy_per_position(model, validation)
            first, second = accuracy[: n - 1], accuracy[n:]
            task.log(step, loss.item(), first_half_acc=first.mean().item(), second_half_acc=second.mean().item(),
                     second_half_min=second.min().item())
            good_checks = good_checks + 1 if second.min() >= cfg.done_at else 0
            if good_checks >= cfg.done_checks:
                break
    show_accuracy_per_position(accuracy_per_position(model, validation), task.spec)
