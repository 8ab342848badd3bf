"""The judge's arithmetic for the Hilton milestone: parameter counts from a parameter list (embeddings found
by shape), FLOPs per token and KV-cache bytes."""

import math

import pytest
import torch.nn as nn

from grader.judge.sizes import (
    attention_flops, count, describe_groups, forward_flops, kv_cache_bytes, relative_error,
)


class Tiny(nn.Module):
    def __init__(self, vocab=11, block=7, d=6, layers=2, tied=True, positions=True):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        if positions:
            self.pos = nn.Embedding(block, d)
        self.blocks = nn.ModuleList(nn.Linear(d, d) for _ in range(layers))
        self.head = nn.Linear(d, vocab, bias=False)
        if tied:
            self.head.weight = self.tok.weight


def listing(model):
    return [(name, list(p.shape), "float32") for name, p in model.named_parameters()]


@pytest.mark.parametrize("tied, positions, non_embedding", [
    (True, True, 2 * 42),  # blocks only
    (False, True, 2 * 42 + 66),  # an untied head is a matmul: it stays in
    (True, False, 2 * 42),  # no position table to leave out
])
def test_count_finds_the_embedding_tables_by_shape(tied, positions, non_embedding):
    model = Tiny(tied=tied, positions=positions)
    counted = count(listing(model), vocab_size=11, block_size=7, d_model=6)
    assert counted.total == sum(p.numel() for p in model.parameters())
    assert counted.token_embedding == 66 and counted.position_embedding == (42 if positions else 0)
    assert counted.non_embedding == non_embedding


def test_groups_merge_equal_layers_in_a_row():
    counted = count(listing(Tiny(layers=3)), vocab_size=11, block_size=7, d_model=6)
    assert describe_groups(counted) == "tok 66; pos 42; blocks.0-2 42 each"
    assert describe_groups(counted, limit=1) == "tok 66; ..."


def test_flops_and_kv_cache_formulas():
    assert attention_flops(n_layers=4, context_len=128, d_model=128) == 131_072
    assert forward_flops(793_344, n_layers=4, context_len=128, d_model=128) == 2 * 793_344 + 131_072
    assert kv_cache_bytes(n_layers=4, batch_size=1, context_len=128, d_model=128, dtype="float16") == 262_144
    assert kv_cache_bytes(n_layers=2, batch_size=3, context_len=10, d_model=8, dtype="float32") == 3_840
    assert relative_error(105, 100) == pytest.approx(0.05) and relative_error(1, 0) == math.inf
