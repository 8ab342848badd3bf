"""The canonical form copy detection compares (issue 24): equivalent idioms and reordered definitions read the
same, so a disguised copy of every reference is still flagged; the independent alternatives stay below the
threshold (tests/challenge/test_similarity.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from challenge.canonical import canonical
from challenge.similarity import THRESHOLD, reference_similarity

REPO = Path(__file__).resolve().parents[2]
MILESTONES = sorted(p for p in (REPO / "milestones").iterdir() if (p / "reference.py").is_file())

SAME = {
    "transpose": ["y = q @ k.transpose(-2, -1)", "y = q @ k.transpose(-1, -2)", "y = q @ k.mT",
                  "y = torch.matmul(q, k.swapaxes(-2, -1))", "y = torch.einsum('bhqd,bhkd->bhqk', q, k)",
                  "y = torch.einsum('...qd,...kd->...qk', q, k)", "y = q.matmul(k.mT)"],
    "scale": ["s = a / math.sqrt(d)", "s = a * d ** -0.5", "s = a * (1.0 / math.sqrt(d))", "s = a / d ** 0.5",
              "s = a * torch.rsqrt(d)"],
    "mask": ["s = s.masked_fill(~m, float('-inf'))", "s = torch.where(m, s, float('-inf'))",
             "s = s.masked_fill(m == 0, -math.inf)", "s = torch.where(m, s, -torch.inf)",
             "s = s.masked_fill(m.logical_not(), float('-inf'))"],
    "softmax": ["w = F.softmax(s, dim=-1)", "w = torch.softmax(s, -1)", "w = s.softmax(dim=-1)", "w = s.softmax(-1)"],
    "size": ["d = q.size(-1)", "d = q.shape[-1]"],
    "literals": ["eps = 1e-5", "eps = 0.00001", "eps = 1E-05"],
    "augmented": ["x += y", "x = x + y"],
}


@pytest.mark.parametrize("idiom", list(SAME))
def test_equivalent_idioms_have_one_form(idiom):
    forms = {canonical(source) for source in SAME[idiom]}
    assert len(forms) == 1, forms


def test_definitions_in_another_order_read_the_same():
    first = "def a(x):\n    return x + 1\n\n\nclass B:\n    def f(self):\n        return 1\n\n    def g(self):\n" \
            "        return 2\n"
    second = "class B:\n    def g(self):\n        return 2\n\n    def f(self):\n        return 1\n\n\n" \
             "def a(x):\n    '''docs differ'''\n    return x + 1  # comments too\n"
    assert canonical(first) == canonical(second)


def test_different_code_stays_different():
    assert canonical("y = q @ k") != canonical("y = q * k")
    assert canonical("s = a / math.sqrt(d)") != canonical("s = a / d")


def test_source_that_does_not_parse_is_compared_as_it_is():
    assert canonical("def (:") == "def (:"


def _bench():
    path = REPO / "bench" / "similarity_calibration.py"
    spec = importlib.util.spec_from_file_location("similarity_calibration", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("folder", MILESTONES, ids=lambda p: p.name)
def test_a_disguised_copy_of_every_reference_is_flagged(folder):
    """Idioms swapped (.mT, ** -0.5, torch.where, einsum, .softmax), definitions reversed, independent statements
    swapped, annotations dropped, names changed, reformatted: what the copies of issue 24 did."""
    reference = (folder / "reference.py").read_text()
    disguised = _bench().disguised(reference)
    assert disguised != reference
    assert reference_similarity(disguised, folder) >= THRESHOLD
