"""Every stub imports, and every place the learner must fill in raises
NotImplementedError with a friendly TODO message."""

import importlib.util

import pytest

from milestones import load_registry

REGISTRY = load_registry()


def _load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("milestone", REGISTRY.milestones, ids=lambda m: m.id)
def test_stub_imports_and_has_todos(milestone):
    folder = REGISTRY.folder(milestone)
    module = _load(folder / "stub.py", f"stub_{milestone.id}")
    source = (folder / "stub.py").read_text()
    assert f"TODO({milestone.id})" in source
    assert (folder / "README.md").is_file() and (folder / "reference.py").is_file()
    assert module.__doc__


def _entry_points(milestone, module):
    """A call into each thing the learner fills in, per milestone interface."""
    import torch

    x = torch.randn(2, 5, 8)
    ids = x[:, :, 0].long()  # (2, 5) token ids
    spec = {"vocab_size": 50, "max_len": 16, "block_size": 16, "pad_id": 0, "n_classes": 2, "mask_id": 4,
            "special_ids": [0, 1, 2, 3, 4]}
    calls = {
        "attention": [lambda: module.scaled_dot_product_attention(x, x, x), lambda: module.SelfAttention(8)],
        "multihead": [lambda: module.MultiHeadAttention(8, 2)],
        "block": [lambda: module.LayerNorm(8), lambda: module.TransformerBlock(8, 2, 16)],
        "attention_viz": [lambda: module.MultiHeadAttention(8, 2), lambda: module.build_model(spec),
                          lambda: module.attention_patterns(None, ids)],
        "sampling": [lambda: module.sample_next(x[:, 0]), lambda: module.generate(None, ids, 1),
                     lambda: module.beam_search(None, ids[:1], beam_width=2, max_new_tokens=1)],
        "kv_cache": [lambda: module.GPT(module.GPTConfig(50, 16)), lambda: module.build_model(spec),
                     lambda: module.generate_cached(None, ids, 1)],
        "hand_coded": [lambda: module.LayerNorm(8), lambda: module.TransformerBlock(8, 2, 16),
                       lambda: module.build_reverse(), lambda: module.build_histogram(), lambda: module.build_sort()],
    }.get(milestone.id)
    if calls is None:  # training milestones share one interface
        calls = [lambda: module.build_model(spec), lambda: module.train(torch.nn.Linear(2, 2), None)]
    return calls


@pytest.mark.parametrize("milestone", REGISTRY.milestones, ids=lambda m: m.id)
def test_every_learner_entry_point_raises_not_implemented(milestone):
    module = _load(REGISTRY.folder(milestone) / "stub.py", f"stub_raise_{milestone.id}")
    for call in _entry_points(milestone, module):
        with pytest.raises(NotImplementedError, match=r"TODO\("):
            call()
