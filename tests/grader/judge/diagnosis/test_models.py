"""The judge's mistake models: the reference variant reproduces PyTorch, and a mistake
changes the prediction (both ways); the catalogue is one list of unique ids that the
mutants of milestones 1-3 expect."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from grader.judge.diagnosis import REFERENCE, BlockWeights, MhaWeights, Variant, block, known_ids, mha, sdpa
from milestones import load_registry
from milestones.mutants import read_catalogue


def _rng() -> torch.Generator:
    return torch.Generator().manual_seed(7)


def _causal(t: int) -> torch.Tensor:
    return torch.ones(t, t, dtype=torch.bool).tril()


def _mha_and_weights(d: int = 8, heads: int = 2):
    torch.manual_seed(3)
    module = nn.MultiheadAttention(d, heads, batch_first=True, dtype=torch.float64).eval()
    with torch.no_grad():
        module.in_proj_bias.normal_()
        module.out_proj.bias.normal_()
    return module, MhaWeights.of(module)


def test_sdpa_reference_is_pytorch():
    g = _rng()
    q, k, v = (torch.randn(3, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    mask = _causal(5)
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.allclose(sdpa(q, k, v, mask, REFERENCE), expected, atol=1e-12)
    assert torch.allclose(sdpa(q, k, v, None, REFERENCE), F.scaled_dot_product_attention(q, k, v), atol=1e-12)


@pytest.mark.parametrize("mistake", [("no-scale", None), ("mask-transposed", False), ("mask-inverted", None),
                                     ("softmax-over-queries", None), ("scale-multiplied", None)])
def test_an_sdpa_mistake_changes_the_prediction(mistake):
    g = _rng()
    q, k, v = (torch.randn(2, 5, 4, generator=g, dtype=torch.float64) for _ in range(3))
    mask = _causal(5)
    mask[:, 0] = True  # every query sees a key either way round
    wrong = sdpa(q, k, v, mask, Variant.of(mistake))
    assert not torch.allclose(wrong, sdpa(q, k, v, mask, REFERENCE), atol=1e-6)


def test_mha_reference_is_pytorch_with_masks():
    module, w = _mha_and_weights()
    g = _rng()
    x = torch.randn(3, 5, 8, generator=g, dtype=torch.float64)
    mask = _causal(5)  # True = may attend (the challenge's convention)
    pad = torch.zeros(3, 5, dtype=torch.bool)
    pad[1, 3:] = True  # True = padding (PyTorch's convention)
    with torch.no_grad():
        expected, _ = module(x, x, x, attn_mask=~mask, key_padding_mask=pad, need_weights=False)
    assert torch.allclose(mha(w, x, REFERENCE, mask=mask, pad=pad), expected, atol=1e-10)


@pytest.mark.parametrize("mistake", [("no-out-bias", None), ("no-qkv-bias", None), ("heads-without-transpose", None),
                                     ("no-transpose-out-weight", None), ("key-padding-ignored", None)])
def test_a_multihead_mistake_changes_the_prediction(mistake):
    _, w = _mha_and_weights()
    x = torch.randn(3, 5, 8, generator=_rng(), dtype=torch.float64)
    pad = torch.zeros(3, 5, dtype=torch.bool)
    pad[1, 3:] = True
    assert not torch.allclose(mha(w, x, Variant.of(mistake), pad=pad), mha(w, x, REFERENCE, pad=pad), atol=1e-6)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_block_reference_is_the_encoder_layer(norm_first, activation):
    torch.manual_seed(5)
    layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first, dtype=torch.float64).eval()
    with torch.no_grad():
        for norm in (layer.norm1, layer.norm2):
            norm.weight.normal_()
            norm.bias.normal_()
    x = torch.randn(2, 6, 8, generator=_rng(), dtype=torch.float64)
    mask = _causal(6)
    with torch.no_grad():
        expected = layer(x, src_mask=~mask)
    w = BlockWeights.of(layer)
    assert torch.allclose(block(w, x, REFERENCE, mask=mask), expected, atol=1e-10)
    for mistake in ("no-activation", "norm1-used-twice", "norm-inside-residual" if not norm_first else
                    "residual-from-normed"):
        assert not torch.allclose(block(w, x, Variant.of((mistake, None)), mask=mask), expected, atol=1e-6), mistake


def test_the_catalogue_is_one_list_of_unique_ids_that_the_mutants_expect():
    ids = known_ids()
    assert len(ids) == len(set(ids)) and all(ids)
    registry = load_registry()
    not_diagnosed = {"modified in place", "asks you to write it yourself"}  # said by a test's message, not a probe
    for name in ("attention", "multihead", "block"):
        for mutant in read_catalogue(registry.folder(registry.get(name))).mutants:
            assert mutant.expect in ids or mutant.expect in not_diagnosed, (name, mutant.name, mutant.expect)
