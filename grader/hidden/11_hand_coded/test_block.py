"""Hidden tests for bonus milestone 11, part 1: the file's own TransformerBlock is still
equivalent to nn.TransformerEncoderLayer (the programs run through it)."""

import pytest

from grader.judge.block import check_block, load, make_layer, sizes
from grader.judge.compare import F64
from grader.judge.support import causal_mask, randn


@pytest.mark.parametrize("norm_first,activation,causal", [(False, "relu", True), (True, "gelu", False)],
                         ids=["post-LN-relu-causal", "pre-LN-gelu"])
def test_block_matches_torch_encoder_layer(learner, rng, norm_first, activation, causal):
    """your TransformerBlock matches nn.TransformerEncoderLayer (milestone 3's contract)"""
    b, t, d, heads, d_ff = sizes(rng)
    eps = 0.1 if norm_first else 1e-5  # a large eps shows where it sits
    layer, kwargs = make_layer(rng, d, heads, d_ff, norm_first=norm_first, activation=activation, eps=eps)
    module = load(learner, layer, kwargs)
    x = randn(rng, b, t, d)
    mask = causal_mask(t) if causal else None
    got = module(x) if mask is None else module(x, mask=mask)
    check_block(learner, got, layer, x, mask=mask, tol=F64,
                what="TransformerBlock.forward against nn.TransformerEncoderLayer",
                case=f"x {tuple(x.shape)}, {heads} heads, d_ff={d_ff}, norm_first={norm_first}, {activation}, "
                     f"eps={eps}{', causal mask' if causal else ''}",
                hint="Copy your block from milestone 3 unchanged: the programs must run through a block that "
                     "passed there.")
