"""Alternative: another block (separate q/k/v layers, einsum; milestone 3's alternative), weights written into its own parameter names, embeddings and readout as plain buffers, a wider stream (d_model 60) laid out position first."""


import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# -- milestone 3's block (copied) -------------------------------------------------------------

class LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = (x * x).mean(-1, keepdim=True) - mean * mean
        return (x - mean) / (var + self.eps).sqrt() * self.weight + self.bias


def gelu(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


class SelfAttention(nn.Module):
    def __init__(self, d_model, n_heads, bias, dropout):
        super().__init__()
        self.h, self.p = n_heads, dropout
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d_model, d_model, bias=bias) for _ in range(4))

    def forward(self, x, mask, key_padding_mask):
        b, t, d = x.shape
        q, k, v = (w(x).reshape(b, t, self.h, d // self.h) for w in (self.wq, self.wk, self.wv))  # (B, T, H, d)
        scores = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(d // self.h)
        allowed = torch.ones(b, 1, t, t, dtype=torch.bool)
        if mask is not None:
            allowed = allowed & (mask if mask.dim() == 2 else mask[:, None])
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask[:, None, None, :]
        weights = torch.softmax(scores.masked_fill(~allowed, -math.inf), -1).nan_to_num(0.0)
        weights = F.dropout(weights, self.p, training=self.training)
        return self.wo(torch.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t, d))

    @torch.no_grad()
    def load(self, mha):
        for layer, w in zip((self.wq, self.wk, self.wv), mha.in_proj_weight.chunk(3)):
            layer.weight.copy_(w)
        self.wo.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            for layer, b in zip((self.wq, self.wk, self.wv), mha.in_proj_bias.chunk(3)):
                layer.bias.copy_(b)
            self.wo.bias.copy_(mha.out_proj.bias)


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, activation="relu", norm_first=False,
                 layer_norm_eps=1e-5, bias=True):
        super().__init__()
        self.sa = SelfAttention(d_model, n_heads, bias, dropout)
        self.fc_in = nn.Linear(d_model, d_ff, bias=bias)
        self.fc_out = nn.Linear(d_ff, d_model, bias=bias)
        self.ln_attn, self.ln_ff = LayerNorm(d_model, layer_norm_eps), LayerNorm(d_model, layer_norm_eps)
        self.act = gelu if activation == "gelu" else torch.relu
        self.p, self.norm_first = dropout, norm_first

    def drop(self, x):
        return F.dropout(x, self.p, training=self.training)

    def ff(self, x):
        return self.drop(self.fc_out(self.drop(self.act(self.fc_in(x)))))

    def forward(self, x, mask=None, key_padding_mask=None):
        if self.norm_first:
            x = x + self.drop(self.sa(self.ln_attn(x), mask, key_padding_mask))
            return x + self.ff(self.ln_ff(x))
        x = self.ln_attn(x + self.drop(self.sa(x, mask, key_padding_mask)))
        return self.ln_ff(x + self.ff(x))

    @torch.no_grad()
    def load_torch_weights(self, layer):
        self.sa.load(layer.self_attn)
        pairs = ((self.fc_in, layer.linear1), (self.fc_out, layer.linear2), (self.ln_attn, layer.norm1), (self.ln_ff, layer.norm2))
        for mine, theirs in pairs:
            mine.weight.copy_(theirs.weight)
            if theirs.bias is not None:
                mine.bias.copy_(theirs.bias)
            elif isinstance(mine, LayerNorm):
                mine.bias.zero_()


# -- the compiled programs' frame ----------------------------------------------------------------

BOS, N_TOKENS, MAX_LEN = 0, 4, 5
VOCAB = 1 + N_TOKENS  # ids 0..4: BOS, a, b, c, d
N_POS = MAX_LEN + 1  # positions 0..5, BOS at 0
SHARP = 40.0  # score gap between the wanted key and any other one
BIG = 8.0  # larger than any count: one false condition pushes a step below zero

D_MODEL, N_HEADS, D_FF = 60, 6, 300
D_HEAD = D_MODEL // N_HEADS
NORM_FIRST = True  # pre-LN; post-LN works the same way (the LayerNorms are identities either way)
EPS = 1e-5


class Program(nn.Module):
    """embed -> blocks -> unembed. The embedding sees one token and its position; the
    unembedding reads one position; everything between positions happens in the blocks."""

    def __init__(self, n_blocks: int, vocab_out: int):
        super().__init__()
        self.register_buffer("tok_table", torch.zeros(VOCAB, D_MODEL))
        self.register_buffer("pos_table", torch.zeros(N_POS, D_MODEL))
        self.blocks = nn.ModuleList(TransformerBlock(D_MODEL, N_HEADS, D_FF, norm_first=NORM_FIRST,
                                                     layer_norm_eps=EPS) for _ in range(n_blocks))
        self.register_buffer("readout", torch.zeros(vocab_out, D_MODEL))

    def embed(self, ids):  # (B, T) -> (B, T, D)
        return self.tok_table[ids] + self.pos_table[: ids.shape[1]]

    def unembed(self, h):  # (B, T, D) -> (B, T, vocab_out)
        return h @ self.readout.T

    def forward(self, ids):
        h = self.embed(ids)
        for block in self.blocks:
            h = block(h)
        return self.unembed(h)


class Layout:
    """Named groups of residual dimensions, allocated in order: layout["pos"][3] is the dimension
    that is 1 at position 3."""

    def __init__(self, *groups: tuple[str, int]):
        self.groups, used = {}, 0
        for name, size in groups:
            self.groups[name] = list(range(used, used + size))
            used += size
        assert used <= D_MODEL, f"the residual stream needs {used} dimensions, it has {D_MODEL}"

    def __getitem__(self, name: str) -> list[int]:
        return self.groups[name]


def gather_groups(n: int = MAX_LEN) -> list[tuple[str, int]]:
    """slot1..slot5: the token at position j (BOS where the input is shorter), in every position."""
    return [(f"slot{j}", VOCAB) for j in range(1, n + 1)]


def zeros(*shape: int) -> torch.Tensor:
    return torch.zeros(*shape, dtype=torch.float64)


class BlockWeights:
    """One block's weights as plain float64 tensors. Per head h: q[h], k[h], v[h] are
    (d_head, D) and o[h] is (D, d_head); the score of query x and key y is
    (q[h] x) . (k[h] y) exactly (the 1/sqrt(d_head) is undone when writing).
    ones: how many 1s each residual vector holds on entering the block, after the
    attention and after the feed-forward (the LayerNorms are set from these)."""

    def __init__(self, ones_in: int, ones_attn: int, ones_ff: int):
        self.q, self.k, self.v = (zeros(N_HEADS, D_HEAD, D_MODEL) for _ in range(3))  # (H, d_head, D)
        self.o = zeros(N_HEADS, D_MODEL, D_HEAD)  # (H, D, d_head)
        self.w1, self.b1 = zeros(D_FF, D_MODEL), zeros(D_FF)  # linear1
        self.w2, self.b2 = zeros(D_MODEL, D_FF), zeros(D_MODEL)  # linear2
        self.ones = (ones_in, ones_attn, ones_ff)
        self.neurons = 0

    def copy(self, head: int, src: list[int], dst: list[int]) -> None:
        """The head's value: the attended key's group src, written into group dst."""
        for c, (s, d) in enumerate(zip(src, dst, strict=True)):
            self.v[head, c, s] = 1.0
            self.o[head, d, c] = 1.0

    def step(self, inputs: dict[int, float], bias: float, writes: dict[int, float]) -> None:
        """An MLP term: s = clamp(z, 0, 1) with z = sum inputs[d] * x[d] + bias, added as
        writes[d] * s to dimension d. Two ReLUs: relu(z) - relu(z - 1)."""
        for shift, sign in ((0.0, 1.0), (-1.0, -1.0)):
            n = self.neurons
            self.neurons += 1
            for d, weight in inputs.items():
                self.w1[n, d] += weight
            self.b1[n] = bias + shift
            for d, weight in writes.items():
                self.w2[d, n] += sign * weight


def gather(w: BlockWeights, lay: Layout) -> None:
    """Heads 0..4: head j-1 copies the token at position j into group slot{j} of every position;
    where the input has no position j it copies BOS (scores: 2*SHARP at position j, SHARP at BOS)."""
    for j in range(1, MAX_LEN + 1):
        h = j - 1
        w.q[h, 0, lay["pos"]] = 1.0  # every position has exactly one position bit: q = 1
        w.k[h, 0, lay["pos"][j]] = 2 * SHARP
        w.k[h, 0, lay["pos"][BOS]] = SHARP
        w.copy(h, lay["tok"], lay[f"slot{j}"])


# -- writing weights into the modules -------------------------------------------------------

@torch.no_grad()
def identity_norm(norm: nn.Module, ones: int) -> None:
    """LayerNorm(x) = x for every x with `ones` 1s and zeros elsewhere."""
    mean = ones / D_MODEL
    var = mean - mean * mean  # E[x^2] - E[x]^2, and x^2 = x for 0/1 entries
    norm.weight.fill_(math.sqrt(var + EPS))
    norm.bias.fill_(mean)


@torch.no_grad()
def write_block(block: TransformerBlock, w: BlockWeights) -> None:
    D = D_MODEL
    wq = (w.q * math.sqrt(D_HEAD)).reshape(D, D)  # rows h*d_head:(h+1)*d_head are head h
    wk, wv = w.k.reshape(D, D), w.v.reshape(D, D)
    wo = w.o.permute(1, 0, 2).reshape(D, D)  # columns h*d_head:(h+1)*d_head: head h
    for layer, weight in ((block.sa.wq, wq), (block.sa.wk, wk), (block.sa.wv, wv), (block.sa.wo, wo)):
        layer.weight.copy_(weight)
        layer.bias.zero_()
    block.fc_in.weight.copy_(w.w1)
    block.fc_in.bias.copy_(w.b1)
    block.fc_out.weight.copy_(w.w2)
    block.fc_out.bias.copy_(w.b2)
    ones_in, ones_attn, ones_ff = w.ones
    # pre-LN: norm1 sees the block's input, norm2 the input plus attention; post-LN one step later
    first, second = (ones_in, ones_attn) if block.norm_first else (ones_attn, ones_ff)
    identity_norm(block.ln_attn, first)
    identity_norm(block.ln_ff, second)


@torch.no_grad()
def assemble(lay: Layout, weights: list[BlockWeights], out_group: list[int]) -> Program:
    """The Program: one-hot token and position embeddings, the blocks, and a readout of out_group."""
    model = Program(len(weights), len(out_group))
    for v in range(VOCAB):
        model.tok_table[v, lay["tok"][v]] = 1.0
    for p in range(N_POS):
        model.pos_table[p, lay["pos"][p]] = 1.0
    for block, w in zip(model.blocks, weights):
        write_block(block, w)
    for r, d in enumerate(out_group):
        model.readout[r, d] = 1.0
    return model.eval()


# -- the three programs -----------------------------------------------------------------------

def build_reverse() -> Program:
    """RASP: length = SelectorWidth(Select(tokens, tokens, TRUE));
    reverse = Aggregate(Select(indices, length - indices + 1, ==), tokens)  (BOS at index 0).
    Block 1 finds the length (the largest position), block 2 fetches position L + 1 - i."""
    lay = Layout(("pos", N_POS), ("tok", VOCAB), ("length", N_POS), ("out", VOCAB))
    return assemble(lay, [find_length(lay), fetch_mirrored(lay)], lay["out"])


def find_length(lay: Layout) -> BlockWeights:
    """Every query scores key j as SHARP * j, so it attends to the last position, and copies that
    position's one-hot index, the length L, into group length."""
    w = BlockWeights(ones_in=2, ones_attn=3, ones_ff=3)
    w.q[0, 0, lay["pos"]] = 1.0  # every position has exactly one position bit: q = 1
    w.k[0, 0, lay["pos"]] = SHARP * torch.arange(N_POS, dtype=torch.float64)
    w.copy(0, lay["pos"], lay["length"])
    return w


def fetch_mirrored(lay: Layout) -> BlockWeights:
    """Query (i, L) attends to key j = t = L + 1 - i and copies its token into group out. Its score
    -SHARP * (j - t)^2, expanded: -SHARP * t^2 is the same for every key (softmax ignores it), and
    SHARP * (-j^2 + 2j(1 - i) + 2jL) is a sum over j of (a number from i and L) * [key is at j]."""
    w = BlockWeights(ones_in=3, ones_attn=4, ones_ff=4)
    for j in range(N_POS):  # q . k = sum over j of q_j * [key at j]
        for i in range(N_POS):
            w.q[0, j, lay["pos"][i]] = SHARP * (-j * j + 2 * j * (1 - i))
        for length in range(N_POS):
            w.q[0, j, lay["length"][length]] = SHARP * 2 * j * length
        w.k[0, j, lay["pos"][j]] = 1.0
    w.copy(0, lay["tok"], lay["out"])
    return w


def build_histogram() -> Program:
    """RASP: hist = SelectorWidth(Select(tokens, tokens, ==)).
    Attention gathers the whole input into every position; the MLP counts the copies of this
    position's token v: [tok = v and n_v >= k] steps, one-hot count = step_k - step_{k+1}."""
    lay = Layout(("pos", N_POS), ("tok", VOCAB), *gather_groups(), ("count", MAX_LEN + 1))
    w = BlockWeights(ones_in=2, ones_attn=2 + MAX_LEN, ones_ff=3 + MAX_LEN)
    gather(w, lay)
    for v in range(1, VOCAB):
        copies = {lay[f"slot{j}"][v]: 1.0 for j in range(1, MAX_LEN + 1)}  # n_v
        for k in range(1, MAX_LEN + 1):
            writes = {lay["count"][k]: 1.0} | ({lay["count"][k - 1]: -1.0} if k > 1 else {})
            w.step(copies | {lay["tok"][v]: BIG}, 1.0 - k - BIG, writes)
    w.step({lay["tok"][BOS]: 1.0}, 0.0, {lay["count"][0]: 1.0})  # BOS position: count 0
    return assemble(lay, [w], lay["count"])


def build_sort() -> Program:
    """RASP (tracr's make_sort, keys made unique by position):
    target = SelectorWidth(Select(tokens, tokens, <) or (== and earlier position)) + 1;
    sort = Aggregate(Select(target, indices, ==), tokens).
    Block 1 gathers the input and computes every token's target position, one-hot;
    block 2 lets position p fetch the token whose target is p."""
    lay = Layout(("pos", N_POS), ("tok", VOCAB), *gather_groups(), ("target", N_POS), ("out", VOCAB))
    return assemble(lay, [place_tokens(lay), fetch_by_target(lay)], lay["out"])


def place_tokens(lay: Layout) -> BlockWeights:
    """Attention gathers the input; the MLP writes the target of token v at position p, one-hot:
    steps s_k = [tok = v and pos = p and target - 1 >= k], then target[m] = s_{m-1} - s_m."""
    w = BlockWeights(ones_in=2, ones_attn=2 + MAX_LEN, ones_ff=3 + MAX_LEN)
    gather(w, lay)
    for v in range(1, VOCAB):
        smaller = {lay[f"slot{j}"][u]: 1.0 for j in range(1, MAX_LEN + 1) for u in range(1, v)}
        for p in range(1, MAX_LEN + 1):
            before = {lay[f"slot{j}"][v]: 1.0 for j in range(1, p)}  # equal tokens at earlier positions
            w_in = smaller | before | {lay["tok"][v]: BIG, lay["pos"][p]: BIG}
            for k in range(MAX_LEN):
                writes = {lay["target"][k + 1]: 1.0} | ({lay["target"][k]: -1.0} if k > 0 else {})
                w.step(w_in, 1.0 - k - 2 * BIG, writes)
    w.step({lay["pos"][BOS]: 1.0}, 0.0, {lay["target"][BOS]: 1.0})  # BOS keeps target 0
    return w


def fetch_by_target(lay: Layout) -> BlockWeights:
    """The query at position p attends to the key whose target is p and copies its token into out."""
    w = BlockWeights(ones_in=3 + MAX_LEN, ones_attn=4 + MAX_LEN, ones_ff=4 + MAX_LEN)
    for c in range(N_POS):
        w.q[0, c, lay["pos"][c]] = SHARP
        w.k[0, c, lay["target"][c]] = 1.0
    w.copy(0, lay["tok"], lay["out"])
    return w
