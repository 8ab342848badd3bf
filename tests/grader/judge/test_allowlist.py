"""The built-in rule as an allow-list (issue 24): every route around the old deny-list, and more spellings of our
own, fail it with a line and a reason; valid files in many styles, and every reference, alternative and stub of
every milestone, pass it."""

from __future__ import annotations

from pathlib import Path

import pytest

from challenge.run_requests import builtins_policy
from grader.judge import families
from grader.judge.rules import check_source, record_operators
from milestones import load_registry

REGISTRY = load_registry()
REPO = Path(__file__).resolve().parents[3]
ATTENTION = list(builtins_policy(REGISTRY, REGISTRY.get("attention"), set()).forbidden)
BLOCK = list(builtins_policy(REGISTRY, REGISTRY.get("block"), {"attention", "multihead"}).forbidden)
HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"

# The routes of issue 24 (each also an end-to-end fixture in tests/grader/engine/fixtures/rule_*).
ROUTES = {
    "alias of getattr": ("look = getattr\nattend = look(F, 'scaled_dot_' + 'product_attention')", "getattr"),
    "alias of exec": ("run = exec\nrun('attend = F.' + 'scaled_dot_product_attention', {'F': 1})", "exec"),
    "computed attribute name": ("attend = getattr(F, 'scaled_dot_' + 'product_attention')", "computed attribute"),
    "functools under another name": ("from functools import reduce as fold\nfold(lambda a, b: a, [], 1)",
                                     "from functools import"),
    "operator under another name": ("from operator import attrgetter as lookup\nlookup('x')", "from operator"),
    "sys.modules through an alias": ("import sys as s\nfunctional = s.modules['torch.nn.functional']", "import sys"),
    "pickle": ("import pickle\nattend = pickle.loads(b'')", "import pickle"),
    "marshal": ("import marshal\ncode = marshal.loads(b'')", "import marshal"),
    "annotation evaluated by Python": ("def f(x: (g := getattr)(F, 'scaled_dot_product_attention')):\n    pass",
                                       "getattr"),
    "annotation holding the built-in": ("def f(x: F.scaled_dot_product_attention(1, 2, 3)):\n    pass",
                                        "F.scaled_dot_product_attention"),
    "match class pattern": ("match F:\n    case object(scaled_dot_product_attention=attend):\n        pass",
                            "scaled_dot_product_attention"),
    "module written at run time": ("import pathlib\npathlib.Path('m.py').write_text('x')\nimport m",
                                   "import pathlib"),
    "getattr on a parameter": ("def fetch(module, name):\n    return getattr(module, name)\nfetch(F, 'x')", "getattr"),
    "DisableTorchFunction through an alias": ("C = torch._C\nquiet = C.DisableTorchFunction", "torch._C"),
}

# Our own spellings, beyond the issue's routes.
SPELLINGS = {
    "star import": ("from torch.nn.functional import *", "import *"),
    "module in a dict": ("fns = {'a': F}\nfns['a'].softmax(1)", "a module may only be used as F.name"),
    "module through a lambda": ("attend = (lambda m: m.softmax)(F)", "a module may only be used"),
    "module returned": ("def functional():\n    return F", "a module may only be used"),
    "submodule as a value": ("g = torch.nn.functional\ng.softmax(1)", "torch.nn.functional a module may only be used"),
    "default argument": ("def f(q, g=getattr):\n    return g(q, 'x')", "getattr"),
    "walrus": ("if (g := getattr):\n    pass", "getattr"),
    "for target": ("for g in [getattr]:\n    pass", "getattr"),
    "builtins by hand": ("g = __builtins__['getattr']", "__builtins__"),
    "globals": ("g = globals()['F']", "globals"),
    "vars": ("d = vars(F)", "vars"),
    "getattribute": ("g = type(q).__getattribute__(q, 'x')", "__getattribute__"),
    "module dict": ("d = F.__dict__", "__dict__"),
    "format reaches attributes": ("s = '{0.__globals__}'.format(f)", "strings that name Python's internals"),
    "aten by name": ("y = torch.ops.aten.scaled_dot_product_attention(q, k, v)", "torch.ops"),
    "TorchFunctionMode": ("from torch.overrides import TorchFunctionMode", "TorchFunctionMode"),
    "dispatch internals": ("from torch.utils._python_dispatch import _disable_current_modes", "_python_dispatch"),
    "module re-exported inside torch": ("g = torch.nn.modules.activation.F", "a module may only be used"),
    "sys inside torch": ("m = torch.sys.modules", "torch.sys"),
    "importlib inside torch": ("m = torch.nn.functional.importlib.import_module('os')", "importlib"),
    "torch.hub": ("m = torch.hub.load('.', 'x', source='local')", "torch.hub"),
    "torch.load of a pickle": ("m = torch.load(buffer, weights_only=False)", "weights_only"),
    "torch.save": ("torch.save(q, 'q.pt')", "torch.save"),
    "numpy tofile": ("q.numpy().tofile('q.bin')", "tofile"),
    "metaclass": ("class M(type):\n    pass\nclass A(metaclass=M):\n    pass", "metaclass"),
    "__torch_function__": ("class T(torch.Tensor):\n    @classmethod\n    def __torch_function__(cls, f, t, a=(), "
                           "k=None):\n        return f(*a)", "__torch_function__"),
    "module __getattr__": ("def __getattr__(name):\n    return name", "__getattr__"),
    "torch imported as t": ("import torch as t\ny = t.nn.functional.scaled_dot_product_attention(q, k, v)",
                            "scaled_dot_product_attention"),
    "MultiheadAttention by its module path": ("m = nn.modules.activation.MultiheadAttention(8, 2)",
                                              "MultiheadAttention"),
    "nn.Transformer": ("from torch.nn import Transformer", "Transformer"),
    "multi_head_attention_forward": ("y = F.multi_head_attention_forward(q, k, v)", "multi_head_attention_forward"),
    "flex_attention": ("y = torch.nn.attention.flex_attention.flex_attention(q, k, v)", "flex_attention"),
    "varlen_attn": ("y = torch.nn.attention.varlen.varlen_attn(q, k, v)", "varlen_attn"),
    "quantizable MultiheadAttention": ("m = torch.ao.nn.quantizable.MultiheadAttention(8, 2)", "MultiheadAttention"),
    "breakpoint": ("f = lambda: breakpoint()", "breakpoint"),
    "open for writing": ("open('helper.py', 'w').write('x')", "open"),
    "relative import": ("from . import helper", "relative imports"),
    "import builtins": ("import builtins", "import builtins"),
    "default device mode": ("torch.set_default_device('meta')", "set_default_device"),
    "frames from a traceback": ("try:\n    1 / 0\nexcept Exception as e:\n    f = e.__traceback__", "__traceback__"),
    "frames from a generator": ("g = (x for x in ()).gi_frame.f_back", "gi_frame"),
    "torch.jit": ("f = torch.jit.script(f)", "torch.jit"),
    "torch.compile": ("f = torch.compile(f)", "torch.compile"),
    "torch._dynamo": ("torch._dynamo.reset()", "torch._dynamo"),
    "torch.library": ("lib = torch.library.Library('aten', 'IMPL')", "torch.library"),
    "own _C does not unlock torch._C": ("class A:\n    def __init__(self):\n        self._C = 1\nc = torch._C",
                                        "torch._C"),
    "own ops does not unlock torch.ops": ("class A:\n    def __init__(self):\n        self.ops = 1\n"
                                          "o = torch.ops.aten", "torch.ops"),
    "monkeypatching torch": ("torch.allclose = lambda *a, **k: True", "changes PyTorch"),
    "deleting from torch": ("del F.softmax", "changes PyTorch"),
    "global getattr": ("def f():\n    global getattr", "reserved"),
    "f-string": ("s = f\"{getattr(F, 'softmax')}\"", "getattr"),
    "comprehension": ("fs = [getattr(F, n) for n in ('a', 'b')]", "getattr"),
    "decorator": ("@getattr\ndef f():\n    pass", "getattr"),
    "dunder keyword pattern": ("match q:\n    case object(__class__=c):\n        pass", "__class__"),
    "get_type_hints": ("import typing\nh = typing.get_type_hints(f)", "get_type_hints"),
    "make_dataclass": ("import dataclasses\nC = dataclasses.make_dataclass('C', ['a'])", "make_dataclass"),
    "import-as a reserved name": ("import torch.nn.functional as getattr", "reserved"),
    "private torch function": ("y = torch._assert(True, 'x')", "torch._assert"),
    "nn.Module internals": ("m = self._modules['x']", "self._modules"),
    "the harness": ("import grader.worker.record", "import grader.worker.record"),
    "os": ("import os\nos.kill(os.getppid(), 19)", "import os"),
    "ctypes": ("import ctypes", "import ctypes"),
    "gc": ("import gc", "import gc"),
    "inspect": ("import inspect", "import inspect"),
    "importlib": ("import importlib", "import importlib"),
}

NORMALISATION = {  # milestone 3: every built-in normalisation and transformer layer, by family
    "F.group_norm with one group": "y = F.group_norm(x, 1)",
    "nn.GroupNorm": "norm = nn.GroupNorm(1, 8)",
    "F.instance_norm": "y = F.instance_norm(x)",
    "F.batch_norm": "y = F.batch_norm(x, None, None, training=True)",
    "F.rms_norm": "y = F.rms_norm(x, (8,))",
    "F.local_response_norm": "y = F.local_response_norm(x, 2)",
    "nn.RMSNorm": "norm = nn.RMSNorm(8)",
    "nn.InstanceNorm1d": "norm = nn.InstanceNorm1d(8)",
    "nn.BatchNorm1d": "norm = nn.BatchNorm1d(8)",
    "torch.layer_norm": "y = torch.layer_norm(x, (8,))",
    "torch.native_layer_norm": "y = torch.native_layer_norm(x, (8,), None, None, 1e-5)",
    "nn.LayerNorm": "norm = nn.LayerNorm(8)",
    "batch-norm statistics over a transposed input": "mean, inv = torch.batch_norm_stats(x.reshape(-1, 8).T, 1e-5)",
    "batch-norm affine step": "y = torch.batch_norm_elemt(x, None, None, mean, inv, 1e-5)",
    "quantized LayerNorm": "norm = torch.ao.nn.quantized.LayerNorm(8, 1.0, 0)",
    "nn.TransformerDecoderLayer": "layer = nn.TransformerDecoderLayer(8, 2)",
    "nn.Transformer": "model = nn.Transformer(8, 2)",
    "nn.TransformerEncoder": "layer = nn.TransformerEncoder(None, 2)",
}


def _refusals(source: str, forbidden: list[str]) -> list[str]:
    return [v.describe() for v in check_source(HEAD + source, forbidden=forbidden)]


@pytest.mark.parametrize("case", list(ROUTES))
def test_every_route_of_the_issue_fails_the_rule_with_its_line(case):
    source, spelling = ROUTES[case]
    found = _refusals(source, ATTENTION)
    assert any(spelling in line for line in found), (case, found)
    assert all(not line.startswith("line 0") for line in found)


@pytest.mark.parametrize("case", list(SPELLINGS))
def test_more_spellings_fail_the_rule(case):
    source, spelling = SPELLINGS[case]
    found = _refusals(source, ATTENTION)
    assert any(spelling in line for line in found), (case, found)


def test_there_are_at_least_thirty_spellings_beyond_the_issue():
    assert len(SPELLINGS) >= 30


@pytest.mark.parametrize("case", list(NORMALISATION))
def test_every_builtin_normalisation_and_layer_fails_the_block_milestone(case):
    found = check_source(HEAD + NORMALISATION[case], forbidden=BLOCK)
    assert any(v.builtin for v in found), (case, [v.describe() for v in found])


def test_a_refusal_teaches():
    [found] = check_source(HEAD + "layer = getattr(self, f'layer{i}')", forbidden=ATTENTION)
    assert found.line == 4
    assert "use nn.ModuleList" in found.reason


VALID = {
    "loops over heads": '''
class MultiHead(nn.Module):
    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.heads = nn.ModuleList([nn.Linear(d_model, d_model // n_heads) for _ in range(n_heads)])
        self._cache: dict[str, torch.Tensor] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for i, head in enumerate(self.heads):
            h = head(x)
            scores = h @ h.transpose(-2, -1) / math.sqrt(h.shape[-1])
            outs.append(torch.softmax(scores, dim=-1) @ h)
            self._cache[f"head{i}"] = scores
        return torch.cat(outs, dim=-1)
''',
    "einsum and torch.where masks": '''
def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    scores = torch.einsum("...qd,...kd->...qk", q, k) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = torch.where(mask, scores, torch.full_like(scores, float("-inf")))
    weights = scores.softmax(-1).nan_to_num(0.0)
    return torch.einsum("...qk,...kd->...qd", weights, v)
''',
    "dataclass config and nn type annotations": '''
@dataclass(frozen=True)
class Config:
    d_model: int = 64
    n_heads: int = 4
    dropout: float = 0.1
    activation: str = "gelu"


class Block(nn.Module):
    norm_cls: type[nn.Module] = nn.Identity

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.ff: nn.Sequential = nn.Sequential(nn.Linear(config.d_model, 4 * config.d_model), nn.GELU())
        nn.init.xavier_uniform_(self.ff[0].weight)
        self.register_buffer("causal", torch.tril(torch.ones(8, 8, dtype=torch.bool)))

    def extra_repr(self) -> str:
        return f"d_model={self.config.d_model}, name={type(self).__name__}"

    @torch.no_grad()
    def load_from(self, mha: nn.MultiheadAttention, norm: "nn.LayerNorm | None" = None) -> None:
        self.ff[0].weight.copy_(mha.in_proj_weight[: self.config.d_model].mT)
''',
    "match on literals, comprehensions, lambdas, main guard": '''
from __future__ import annotations

from collections import OrderedDict
from typing import Callable


def activation(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    match name:
        case "relu":
            return F.relu
        case "gelu" | "erf":
            return lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
        case _:
            raise ValueError(f"unknown activation {name!r}")


SIZES = {n: n * n for n in range(4)}
MLP = nn.Sequential(OrderedDict([("fc", nn.Linear(4, 4)), ("act", nn.GELU())]))
ORDER = sorted(SIZES, key=lambda n: -SIZES[n])

if __name__ == "__main__":
    print(activation("gelu")(torch.ones(2)))
''',
    "an old-style init call and a masked fill": '''
class Attention(nn.Module):
    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.scale = None

    def forward(self, q, k, v, mask=None):
        s = (q @ k.mT) / math.sqrt(q.size(-1))
        if mask is not None:
            s = s.masked_fill(~mask, torch.finfo(s.dtype).min)
        return F.softmax(s, dim=-1) @ v
''',
}


@pytest.mark.parametrize("case", list(VALID))
def test_valid_files_in_other_styles_pass(case):
    head = "import math\nfrom dataclasses import dataclass\nfrom typing import Optional\n" + HEAD
    source = VALID[case]
    if source.lstrip().startswith("from __future__"):
        source, head = source.lstrip(), ""
        source = source.replace("from typing import Callable\n", "from typing import Callable\nimport math\n" + HEAD)
    for forbidden in (ATTENTION, BLOCK):
        assert check_source(head + source, forbidden=forbidden) == [], case


def _every_file():
    for milestone in REGISTRY.milestones:
        folder = REGISTRY.folder(milestone)
        for path in [folder / "reference.py", folder / "stub.py", *sorted((folder / "alternatives").glob("*.py"))]:
            yield pytest.param(milestone, path, id=f"{milestone.id}/{path.stem}")


@pytest.mark.parametrize("milestone, path", list(_every_file()))
def test_no_reference_alternative_or_stub_of_any_milestone_steps_outside_the_subset(milestone, path):
    """With dev check's policy, and with the subset on whatever is forbidden (a learner who passed nothing)."""
    earlier = {m.id for m in REGISTRY.milestones if m.number < milestone.number}
    policy = builtins_policy(REGISTRY, milestone, earlier)
    source = path.read_text(encoding="utf-8")
    found = check_source(source, forbidden=list(policy.forbidden), allowed_imports=policy.allowed_imports)
    assert found == [], [v.describe() for v in found]
    strict = check_source(source, forbidden=["torch.nn.functional.scaled_dot_product_attention"],
                          allowed_imports=policy.allowed_imports)
    assert [v for v in strict if not v.builtin] == [], [v.describe() for v in strict]


def test_an_allowed_import_is_allowed_only_where_the_yaml_says():
    assert check_source("import copy\n", forbidden=ATTENTION, allowed_imports=["copy"]) == []
    assert check_source("import copy\n", forbidden=ATTENTION)


def test_families_are_data_the_milestones_refer_to():
    for milestone in REGISTRY.milestones:
        for family in [*milestone.builtins.families, *milestone.builtins.forbidden_families]:
            assert family in families.FAMILIES
    assert "torch.nn.GroupNorm" in BLOCK and "torch.nn.TransformerDecoderLayer" in BLOCK
    # once attention and multi-head passed, the block may use them (its alternatives do)
    assert "torch.nn.functional.scaled_dot_product_attention" not in BLOCK
    assert "torch.nn.MultiheadAttention" in ATTENTION and "torch.nn.Transformer" in ATTENTION


def test_the_record_watches_the_families_operators_and_their_evidence():
    operators = record_operators(BLOCK)
    assert operators["native_group_norm"] == "torch.nn.functional.group_norm"
    assert operators["native_layer_norm"] == "torch.nn.functional.layer_norm"
    assert operators["_transformer_encoder_layer_fwd"].startswith("torch.nn.Transformer")
    assert operators["mean"] == families.EVIDENCE


def test_the_worker_and_the_judge_agree_on_the_records_markers():
    record = (REPO / "grader" / "worker" / "record.py").read_text()
    for marker in (families.EVIDENCE, families.EVIDENCE_SEEN, families.RECORD_OFF):
        assert f'"{marker}"' in record
