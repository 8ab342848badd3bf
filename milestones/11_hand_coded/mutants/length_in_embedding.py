"""Mutant: the embedding writes the length (known from ids.shape[1]) instead of a layer computing it: the embedding sees the whole input."""

EXPECT = 'the length'


import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# -- milestone 3's block (copied) -------------------------------------------------------------

class LayerNorm(nn.Module):
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.bias = nn.Parameter(torch.zeros(d_model))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)  # biased, as LayerNorm defines it
        return (x - mean) / torch.sqrt(var + self.eps) * self.weight + self.bias


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, n_heads: int, bias: bool = True, dropout: float = 0.0):
        super().__init__()
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, mask=None, key_padding_mask=None):
        B, T, D = x.shape
        q, k, v = self.qkv(x).split(D, -1)  # (B, T, D) each
        q, k, v = (t.view(B, T, self.n_heads, self.d_head).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d_head)
        allowed = torch.ones(B, 1, T, T, dtype=torch.bool, device=x.device)
        if mask is not None:
            allowed = allowed & (mask if mask.dim() == 2 else mask[:, None])
        if key_padding_mask is not None:
            allowed = allowed & ~key_padding_mask[:, None, None, :]
        scores = (q @ k.transpose(-2, -1) / math.sqrt(self.d_head)).masked_fill(~allowed, float("-inf"))
        weights = torch.softmax(scores, -1).masked_fill(~allowed.any(-1, keepdim=True), 0.0)  # (B, H, T, T)
        y = (self.dropout(weights) @ v).transpose(1, 2).contiguous().view(B, T, D)  # (B, T, D)
        return self.out(y)

    @torch.no_grad()
    def load_torch_weights(self, mha: nn.MultiheadAttention) -> None:
        self.qkv.weight.copy_(mha.in_proj_weight)
        self.out.weight.copy_(mha.out_proj.weight)
        if mha.in_proj_bias is not None:
            self.qkv.bias.copy_(mha.in_proj_bias)
            self.out.bias.copy_(mha.out_proj.bias)


class TransformerBlock(nn.Module):
    def __init__(self, d_model, n_heads, d_ff, dropout=0.0, activation="relu", norm_first=False,
                 layer_norm_eps=1e-5, bias=True):
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_heads, bias=bias, dropout=dropout)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.norm1 = LayerNorm(d_model, layer_norm_eps)
        self.norm2 = LayerNorm(d_model, layer_norm_eps)
        self.drop_attn, self.drop_ff, self.drop_act = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)
        self.activation = {"relu": F.relu, "gelu": F.gelu}[activation]
        self.norm_first = norm_first

    def _sa(self, x, mask, key_padding_mask):
        return self.drop_attn(self.attn(x, mask, key_padding_mask))

    def _ff(self, x):
        return self.drop_ff(self.linear2(self.drop_act(self.activation(self.linear1(x)))))

    def forward(self, x, mask=None, key_padding_mask=None):
        if self.norm_first:  # pre-LN
            x = x + self._sa(self.norm1(x), mask, key_padding_mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, mask, key_padding_mask))  # post-LN
        return self.norm2(x + self._ff(x))

    @torch.no_grad()
    def load_torch_weights(self, layer: nn.TransformerEncoderLayer) -> None:
        self.attn.load_torch_weights(layer.self_attn)
        for mine, theirs in ((self.linear1, layer.linear1), (self.linear2, layer.linear2),
                             (self.norm1, layer.norm1), (self.norm2, layer.norm2)):
            mine.weight.copy_(theirs.weight)
            if theirs.bias is not None:
                mine.bias.copy_(theirs.bias)


# -- the compiled programs' frame ----------------------------------------------------------------

BOS, N_TOKENS, MAX_LEN = 0, 4, 5
VOCAB = 1 + N_TOKENS  # ids 0..4: BOS, a, b, c, d
N_POS = MAX_LEN + 1  # positions 0..5, BOS at 0
SHARP = 40.0  # score gap between the wanted key and any other one
BIG = 8.0  # larger than any count: one false condition pushes a step below zero

D_MODEL, N_HEADS, D_FF = 48, 6, 256
D_HEAD = D_MODEL // N_HEADS
NORM_FIRST = True  # pre-LN; post-LN works the same way (the LayerNorms are identities either way)
EPS = 1e-5


class Program(nn.Module):
    """embed -> blocks -> unembed. The embedding sees one token and its position; the
    unembedding reads one position; everything between positions happens in the blocks."""

    def __init__(self, n_blocks: int, vocab_out: int):
        super().__init__()
        self.tok_emb = nn.Embedding(VOCAB, D_MODEL)
        self.pos_emb = nn.Embedding(N_POS, D_MODEL)
        self.blocks = nn.ModuleList(TransformerBlock(D_MODEL, N_HEADS, D_FF, norm_first=NORM_FIRST,
                                                     layer_norm_eps=EPS) for _ in range(n_blocks))
        self.readout = nn.Linear(D_MODEL, vocab_out)
        self.register_buffer("length_emb", torch.zeros(N_POS, D_MODEL))

    def embed(self, ids):  # (B, T) -> (B, T, D)
        h = self.tok_emb(ids) + self.pos_emb(torch.arange(ids.shape[1], device=ids.device))
        return h + self.length_emb[ids.shape[1] - 1]  # the length, for free

    def unembed(self, h):  # (B, T, D) -> (B, T, vocab_out)
        return self.readout(h)

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
def identity_norm(norm: LayerNorm, ones: int) -> None:
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
    block.attn.qkv.weight.copy_(torch.cat([wq, wk, wv]))
    block.attn.qkv.bias.zero_()
    block.attn.out.weight.copy_(w.o.permute(1, 0, 2).reshape(D, D))  # columns h*d_head:(h+1)*d_head: head h
    block.attn.out.bias.zero_()
    block.linear1.weight.copy_(w.w1)
    block.linear1.bias.copy_(w.b1)
    block.linear2.weight.copy_(w.w2)
    block.linear2.bias.copy_(w.b2)
    ones_in, ones_attn, ones_ff = w.ones
    # pre-LN: norm1 sees the block's input, norm2 the input plus attention; post-LN one step later
    first, second = (ones_in, ones_attn) if block.norm_first else (ones_attn, ones_ff)
    identity_norm(block.norm1, first)
    identity_norm(block.norm2, second)


@torch.no_grad()
def assemble(lay: Layout, weights: list[BlockWeights], out_group: list[int]) -> Program:
    """The Program: one-hot token and position embeddings, the blocks, and a readout of out_group."""
    model = Program(len(weights), len(out_group))
    model.tok_emb.weight.zero_()
    model.pos_emb.weight.zero_()
    for v in range(VOCAB):
        model.tok_emb.weight[v, lay["tok"][v]] = 1.0
    for p in range(N_POS):
        model.pos_emb.weight[p, lay["pos"][p]] = 1.0
    for block, w in zip(model.blocks, weights):
        write_block(block, w)
    model.readout.weight.zero_()
    model.readout.bias.zero_()
    for r, d in enumerate(out_group):
        model.readout.weight[r, d] = 1.0
    return model.eval()


# -- the three programs -----------------------------------------------------------------------

def build_reverse() -> Program:
    """RASP: length = SelectorWidth(Select(tokens, tokens, TRUE));
    reverse = Aggregate(Select(indices, length - indices + 1, ==), tokens)  (BOS at index 0).
    Block 1 finds the length (the largest position), block 2 fetches position L + 1 - i."""
    lay = Layout(("tok", VOCAB), ("pos", N_POS), ("length", N_POS), ("out", VOCAB))
    first = BlockWeights(ones_in=3, ones_attn=3, ones_ff=3)  # nothing to do: the embedding has the length
    model = assemble(lay, [first, fetch_mirrored(lay)], lay["out"])
    with torch.no_grad():
        for length in range(N_POS):
            model.length_emb[length, lay["length"][length]] = 1.0
    return model


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
    lay = Layout(("tok", VOCAB), ("pos", N_POS), *gather_groups(), ("count", MAX_LEN + 1))
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
    lay = Layout(("tok", VOCAB), ("pos", N_POS), *gather_groups(), ("target", N_POS), ("out", VOCAB))
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
