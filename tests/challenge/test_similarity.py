"""Similarity to the reference, both ways: a copy (verbatim, renamed,
re-indented, padded) is flagged; every independently written catalogue
alternative stays below the threshold; the stub alone scores 0. Read as text,
never run, no torch, and the same on every run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from challenge.similarity import THRESHOLD, reference_similarity, similar_pairs, similarity

REPO = Path(__file__).resolve().parents[2]
MILESTONES = sorted(p for p in (REPO / "milestones").iterdir() if (p / "reference.py").is_file())
MARGIN = 0.1  # independent alternatives stay at least this far below the threshold


def _code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _literal_share(alternative: str, reference: str) -> float:
    """A plain line count, independent of the fingerprints: the share of the alternative's lines that are the
    reference's own (60% or more: the alternative is the reference edited in one place)."""
    lines, known = _code_lines(alternative), set(_code_lines(reference))
    return sum(1 for line in lines if line in known) / len(lines)


ALTERNATIVES = [(folder, path) for folder in MILESTONES for path in sorted((folder / "alternatives").glob("*.py"))]


@pytest.mark.parametrize("folder", MILESTONES, ids=lambda p: p.name)
def test_a_copy_of_the_reference_is_flagged_however_it_is_disguised(folder):
    reference = (folder / "reference.py").read_text()
    disguised = re.sub(r"\b(x|y|q|k|v|mask|scores|weights|logits|out)\b", lambda m: "my_" + m.group(1), reference)
    disguised = "# my own work\n" + disguised.replace("    ", "  ").replace('"""', "'''")
    padded = reference + "\n\n" + (REPO / "milestones/08_sampling/reference.py").read_text() * 2
    for source in (reference, disguised, padded):
        assert reference_similarity(source, folder) >= THRESHOLD
    assert reference_similarity((folder / "stub.py").read_text(), folder) == 0.0


@pytest.mark.parametrize(("folder", "path"), ALTERNATIVES, ids=lambda p: p.name if isinstance(p, Path) else "")
def test_independent_alternatives_stay_below_the_threshold(folder, path):
    source, reference = path.read_text(), (folder / "reference.py").read_text()
    score = reference_similarity(source, folder)
    if _literal_share(source, reference) >= 0.6:  # the reference edited in one place: it is a copy, and says so
        assert score >= THRESHOLD
    else:
        assert score <= THRESHOLD - MARGIN, f"{folder.name}/{path.name}: {score:.2f}"


def test_pairs_of_learners_above_the_threshold():
    attention = REPO / "milestones/01_attention"
    stub = (attention / "stub.py").read_text()
    ada = (attention / "alternatives/einsum_fused_qkv.py").read_text()
    sources = {"ada": ada, "bo": ada.replace("scores", "s").replace("weights", "w"),
               "cy": (attention / "alternatives/manual_softmax_baddbmm.py").read_text(), "dee": stub}
    [pair] = similar_pairs(sources, boilerplate=stub)
    assert (pair.first, pair.second) == ("ada", "bo") and pair.score == 1.0
    assert similarity(ada, stub, boilerplate=stub) == 0.0


def test_scores_are_the_same_in_every_process_and_import_no_torch():
    code = ("import sys; from pathlib import Path; from challenge.similarity import reference_similarity; "
            "f = Path('milestones/03_block'); "
            "print(reference_similarity((f / 'alternatives/separate_qkv_erf_gelu.py').read_text(), f)); "
            "print('torch' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout.split()
            for seed in ("1", "2")]
    assert runs[0] == runs[1] and runs[0][1] == "False"
