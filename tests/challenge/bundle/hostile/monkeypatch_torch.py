# --- appended attack: make every comparison agree, then return zeros ---------
# Only works if the comparisons ran in the process that imported this file.
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.isclose = lambda a, b, *args, **kwargs: torch.ones_like(a, dtype=torch.bool)
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.__eq__ = lambda self, other: True
torch.Tensor.__ne__ = lambda self, other: False

_honest_sdpa = scaled_dot_product_attention


def scaled_dot_product_attention(*args, **kwargs):
    return torch.zeros_like(_honest_sdpa(*args, **kwargs))


_honest_forward = SelfAttention.forward
SelfAttention.forward = lambda self, *args, **kwargs: torch.zeros_like(_honest_forward(self, *args, **kwargs))
