"""Differential diagnosis for milestones 1-3 (and the block of milestone 11): when a hidden
test's comparison fails, isolating probes run on the learner's code, and the mistake
whose model predicts what the learner's code did is named, with the evidence; when
none matches, analyses that need no model of the mistake say where the fault is.

- ``engine``: probes, variants, the search, evidence and localisation;
- ``catalogue``: every mistake id, its summary and hint (the one list of ids);
- ``attention_model``, ``block_model``: the judge's float64 models that can make mistakes;
- ``probes_attention``, ``probes_multihead``, ``probes_block``: each unit's probes;
- ``dropout``: train-mode statistics (where dropout acts, how much, how scaled);
- ``lab``: the learner's modules the probes build, loaded through ``load_torch_weights``;
- ``clues`` (with ``clues_reach``, ``clues_weights``, ``clues_norms``): analyses that work on any
  wrong code, run when no known mistake explains the probes: which positions reach which,
  which parameter groups reach the output, the attention weights with a fitted scale, the
  activation and LayerNorm with a fitted eps; what they find localises (or un-names) a finding;
- ``hooks``: what hidden tests call (``explained``).
"""

from grader.judge.diagnosis.attention_model import MhaWeights, mha, sdpa
from grader.judge.diagnosis.block_model import BlockWeights, block, layer_norm
from grader.judge.diagnosis.catalogue import MISTAKES, known_ids
from grader.judge.diagnosis.engine import REFERENCE, Variant
from grader.judge.diagnosis.hooks import explain, explained, finding_for

__all__ = ["MISTAKES", "REFERENCE", "BlockWeights", "MhaWeights", "Variant", "block", "explain", "explained",
           "finding_for", "known_ids", "layer_norm", "mha", "sdpa"]
