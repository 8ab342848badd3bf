"""The built-in rule from the source text, proven both ways: every spelling of a
forbidden built-in and every construct that could hide one fails it by name, and
every reference and alternative of the catalogue passes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from grader.judge.rules import check_source, watched_operators
from milestones import load_registry

SDPA = ["torch.nn.functional.scaled_dot_product_attention"]
BLOCK = ["torch.nn.TransformerEncoderLayer", "torch.nn.TransformerEncoder", "torch.nn.functional.layer_norm"]
GRADIENTS = ["torch.Tensor.backward", "torch.autograd.backward", "torch.autograd.grad", "torch._make_dual"]

CAUGHT = {
    "module alias": ("import torch.nn.functional as F\ny = F.scaled_dot_product_attention(q, k, v)", SDPA,
                     "F.scaled_dot_product_attention"),
    "full path": ("import torch\ny = torch.nn.functional.scaled_dot_product_attention(q, k, v)", SDPA,
                  "torch.nn.functional.scaled_dot_product_attention"),
    "from import, renamed": ("from torch.nn.functional import scaled_dot_product_attention as attend\n"
                             "y = attend(q, k, v)", SDPA, "import scaled_dot_product_attention"),
    "submodule import": ("from torch.nn import functional as G\ny = G.scaled_dot_product_attention(q, k, v)", SDPA,
                         "G.scaled_dot_product_attention"),
    "aten default overload": ("import torch\ny = torch.ops.aten.scaled_dot_product_attention.default(q, k, v)", SDPA,
                              "torch.ops.aten.scaled_dot_product_attention"),
    "aten math kernel": ("import torch\ny = torch.ops.aten._scaled_dot_product_attention_math(q, k, v)", SDPA,
                         "_scaled_dot_product_attention_math"),
    "aten fused cpu kernel": ("import torch\nops = torch.ops.aten\n"
                              "y = ops._scaled_dot_product_flash_attention_for_cpu(q, k, v)", SDPA,
                              "_scaled_dot_product_flash_attention_for_cpu"),
    "getattr by name": ("import torch.nn.functional as F\nfn = getattr(F, 'scaled_dot_product_attention')", SDPA,
                        "getattr computed attribute names are not allowed"),
    "getattr computed": ("import torch.nn.functional as F\nfn = getattr(F, 'scaled_dot_' + 'product_attention')",
                         SDPA, "getattr computed attribute names"),
    "getattr through a list": ("import torch.nn.functional as F\nms = [F]\nfn = getattr(ms[0], 'x' + 'y')", SDPA,
                               "F a module may only be used as F.name"),
    "attrgetter": ("import operator\nimport torch.nn.functional as F\n"
                   "fn = operator.attrgetter('scaled_dot_product_attention')(F)", SDPA, "import operator"),
    "module dict": ("import torch.nn.functional as F\nfn = F.__dict__['scaled_dot_product_attention']", SDPA,
                    "__dict__"),
    "re-exported torch": ("import safetensors.torch\n"
                          "y = safetensors.torch.torch.nn.functional.scaled_dot_product_attention(q, k, v)", SDPA,
                          "scaled_dot_product_attention"),
    "DisableTorchFunction": ("import torch\nwith torch._C.DisableTorchFunction():\n    pass", SDPA,
                             "DisableTorchFunction"),
    "pop the mode": ("import torch\nwith torch.overrides._pop_mode_temporarily():\n    pass", SDPA,
                     "_pop_mode_temporarily"),
    "dispatch internals": ("from torch.utils._python_dispatch import _disable_current_modes\n", SDPA,
                           "_python_dispatch"),
    "gc": ("import gc\nfor thing in gc.get_objects():\n    pass", SDPA, "import gc"),
    "sys.modules": ("import sys\nrecord = sys.modules['grader.worker.record']", SDPA, "sys.modules"),
    "frames": ("import sys\nframe = sys._getframe(1).f_back", SDPA, "_getframe"),
    "inspect": ("import inspect\n", SDPA, "import inspect"),
    "eval": ("x = eval('1 + 1')", SDPA, "eval running code built at run time"),
    "exec": ("exec('import torch')", SDPA, "exec running code"),
    "compile": ("code = compile('1', 'f', 'eval')", SDPA, "compile running code"),
    "__import__": ("t = __import__('torch')", SDPA, "__import__ running code"),
    "importlib": ("import importlib\nF = importlib.import_module('torch.nn.functional')", SDPA, "importlib"),
    "the harness": ("import grader.worker.record\n", SDPA, "import grader.worker.record"),
    "setattr on torch": ("import torch\nsetattr(torch, 'allclose', lambda *a, **k: True)", SDPA,
                         "setattr computed attribute names"),
    "torch.compile": ("import torch\nf = torch.compile(lambda x: x)", SDPA, "torch.compile"),
    "nn.LayerNorm for F.layer_norm": ("import torch.nn as nn\nnorm = nn.LayerNorm(8)", BLOCK, "nn.LayerNorm"),
    "native_layer_norm": ("import torch\ny = torch.native_layer_norm(x, (8,), None, None, 1e-5)", BLOCK,
                          "native_layer_norm"),
    "encoder layer": ("from torch import nn\nlayer = nn.TransformerEncoderLayer(8, 2)", BLOCK,
                      "nn.TransformerEncoderLayer"),
    "backward": ("loss = model(x).sum()\nloss.backward()", GRADIENTS, ".backward"),
    "autograd.grad": ("import torch\ng = torch.autograd.grad(y, x)", GRADIENTS, "torch.autograd.grad"),
}


@pytest.mark.parametrize("case", list(CAUGHT))
def test_every_way_around_the_rule_is_caught_with_its_line(case):
    source, forbidden, spelling = CAUGHT[case]
    found = check_source(source, forbidden=forbidden)
    assert found, f"{case} went unnoticed"
    assert any(spelling in v.describe() for v in found), [v.describe() for v in found]
    assert all(v.line >= 1 for v in found)


ALLOWED = {
    "the learner's own function of the same name": (
        "def scaled_dot_product_attention(q, k, v, mask=None):\n    return q\n"
        "__all__ = ['scaled_dot_product_attention']\ny = scaled_dot_product_attention(1, 2, 3)", SDPA),
    "the learner's own LayerNorm": ("import torch.nn as nn\nclass LayerNorm(nn.Module):\n    pass\n"
                                    "norm = LayerNorm()\nself_norm = norm.layer_norm_eps", BLOCK),
    "a type annotation": ("import torch.nn as nn\ndef load(self, layer: nn.TransformerEncoderLayer) -> None:\n"
                          "    x: nn.TransformerEncoderLayer = layer\n    return None", BLOCK),
    "no_grad is not grad": ("import torch\nwith torch.no_grad():\n    pass\nx.grad", GRADIENTS),
    "model.eval() is not eval": ("model.eval()\nmodel.train()", SDPA),
    "nothing forbidden, anything goes": ("import gc\nx = eval('1')", []),
}


@pytest.mark.parametrize("case", list(ALLOWED))
def test_plain_code_passes_the_rule(case):
    source, forbidden = ALLOWED[case]
    assert check_source(source, forbidden=forbidden) == []


def _policy(registry, milestone) -> list[str]:
    """dev check's policy: a learner who passed every earlier milestone."""
    from challenge.run_requests import builtins_policy

    earlier = {m.id for m in registry.milestones if m.number < milestone.number}
    return list(builtins_policy(registry, milestone, earlier).forbidden)


def _valid_files():
    registry = load_registry()
    for milestone in registry.milestones:
        folder = registry.folder(milestone)
        for path in [folder / "reference.py", *sorted((folder / "alternatives").glob("*.py"))]:
            yield pytest.param(registry, milestone, path, id=f"{milestone.id}/{path.stem}")


@pytest.mark.parametrize("registry, milestone, path", list(_valid_files()))
def test_references_and_alternatives_pass_the_rule(registry, milestone, path: Path):
    found = check_source(path.read_text(encoding="utf-8"), forbidden=_policy(registry, milestone))
    assert found == [], [v.describe() for v in found]


def test_the_worker_watches_the_operators_behind_each_builtin():
    operators = watched_operators(SDPA + BLOCK)
    assert operators["_scaled_dot_product_flash_attention_for_cpu"] == SDPA[0]
    assert operators["native_layer_norm"] == "torch.nn.functional.layer_norm"
    assert watched_operators([]) == {}
