"""Probes of a failing trained model, on small models whose weights are set by hand (no training)."""

from contextlib import nullcontext

import torch
import torch.nn.functional as F

from grader.judge import trained_probes as probes
from grader.judge.trained import padding_change

V, PAD = 12, 0


def _stream(n: int = 64, t: int = 16) -> torch.Tensor:
    return torch.randint(1, V, (n, t + 1), generator=torch.Generator().manual_seed(0))


def _losses(logits: torch.Tensor, windows: torch.Tensor) -> tuple[float, float]:
    """(loss on the current token, loss on the next), as the GPT test computes them."""
    inputs, targets = windows[:, :-1], windows[:, 1:]
    current = F.cross_entropy(logits.transpose(1, 2), inputs).item()
    following = F.cross_entropy(logits.transpose(1, 2), targets).item()
    return current, following


def test_a_gpt_trained_on_unshifted_targets_is_told_it_predicts_the_current_token():
    windows = _stream()
    copying = 10.0 * F.one_hot(windows[:, :-1], V).float()  # what training on unshifted targets converges to
    current, following = _losses(copying, windows)
    finding = probes.copies_input(current=current, target=following, lm="causal")
    assert finding is not None and finding.shape == "copies_input"
    assert "predicts the token at the same position, not the next one" in finding.message
    assert f"{current:.1f} nats, on the next {following:.1f}" in finding.message
    assert "shifted by one" in finding.hint


def test_a_model_that_predicts_the_next_token_or_nothing_is_not_accused_of_copying():
    windows = _stream()
    predicting = 10.0 * F.one_hot(windows[:, 1:], V).float()
    assert probes.copies_input(current=_losses(predicting, windows)[0], target=_losses(predicting, windows)[1],
                               lm="causal") is None
    uniform = torch.zeros(len(windows), windows.shape[1] - 1, V)
    assert probes.copies_input(current=_losses(uniform, windows)[0], target=_losses(uniform, windows)[1],
                               lm="causal") is None


class _Classifier(torch.nn.Module):
    """Mean of token embeddings over real tokens, or (constant=True) a bias alone."""

    def __init__(self, constant: bool = False, pool_padding: bool = False):
        super().__init__()
        self.constant, self.pool_padding = constant, pool_padding
        self.emb = torch.nn.Embedding(V, 2)
        self.bias = torch.nn.Parameter(torch.tensor([0.3, -0.2]))

    def forward(self, ids, padding_mask):
        if self.constant:
            return self.bias.expand(len(ids), 2)
        real = torch.ones_like(padding_mask) if self.pool_padding else ~padding_mask
        x = (self.emb(ids) * real[..., None]).sum(1) / real.sum(1, keepdim=True)
        return x + self.bias


def _ids() -> torch.Tensor:
    ids = torch.randint(3, V, (16, 10), generator=torch.Generator().manual_seed(1))
    lengths = torch.randint(2, 6, (16,), generator=torch.Generator().manual_seed(2))
    return torch.where(torch.arange(10) < lengths[:, None], ids, PAD)


def test_a_constant_output_classifier_is_told_its_logits_do_not_depend_on_the_words():
    ids, special = _ids(), [0, 1, 2]
    keep = torch.isin(ids, torch.tensor(special))
    with torch.no_grad():
        found = probes.ignores_input(lambda x: _Classifier(constant=True)(x, x == PAD), ids, keep=keep, vocab_size=V,
                                     special=special)
        assert found is not None and "do not depend on the words" in found.message
        assert probes.ignores_input(lambda x: _Classifier()(x, x == PAD), ids, keep=keep, vocab_size=V,
                                    special=special) is None


class _Remote:
    """The two things padding_change asks of a learner's model, in-process."""

    def __init__(self, module):
        self.module, self.session = module, self

    def expecting(self, _):
        return nullcontext()

    def infer(self, ids, padding_mask):
        with torch.no_grad():
            return self.module(ids, padding_mask)


class _Encoder(torch.nn.Module):
    """One attention layer onto the vocabulary; ``use_mask=False`` lets real tokens attend to padding."""

    def __init__(self, use_mask: bool):
        super().__init__()
        torch.manual_seed(0)
        self.use_mask = use_mask
        self.emb, self.head = torch.nn.Embedding(V, 8), torch.nn.Linear(8, V)

    def forward(self, ids, padding_mask):
        x = self.emb(ids)
        scores = x @ x.transpose(1, 2)
        if self.use_mask:
            scores = scores.masked_fill(padding_mask[:, None, :], float("-inf"))
        return self.head(scores.softmax(-1) @ x)


def test_a_bert_that_reads_padding_is_caught_by_more_padding():
    ids = torch.cat([_ids(), torch.full((16, 12), PAD)], 1)  # room for more padding
    assert padding_change(_Remote(_Encoder(use_mask=True)), ids, PAD, out_size=V, per_token=True) < 1e-5
    diff = padding_change(_Remote(_Encoder(use_mask=False)), ids, PAD, out_size=V, per_token=True)
    finding = probes.reads_padding(diff)
    assert finding is not None and "padding reaches the real tokens" in finding.message


def test_a_classifier_that_pools_over_padding_is_caught_and_one_that_does_not_passes():
    ids = torch.cat([_ids(), torch.full((16, 12), PAD)], 1)
    assert padding_change(_Remote(_Classifier()), ids, PAD, out_size=2, per_token=False) < 1e-5
    assert padding_change(_Remote(_Classifier(pool_padding=True)), ids, PAD, out_size=2, per_token=False) > 1e-3


def test_labels_ignored_needs_both_a_low_training_loss_and_chance_agreement():
    found = probes.ignores_labels(train_accuracy=0.51, majority=0.5, final_loss=0.05, n_classes=2)
    assert found is not None and "0.05" in found.message and "51.0%" in found.message
    assert probes.ignores_labels(train_accuracy=0.51, majority=0.5, final_loss=0.69, n_classes=2) is None  # untrained
    assert probes.ignores_labels(train_accuracy=0.95, majority=0.5, final_loss=0.05, n_classes=2) is None  # overfit
    assert probes.ignores_labels(train_accuracy=0.5, majority=0.5, final_loss=None, n_classes=2) is None


def test_final_loss_reads_only_well_formed_log_entries():
    log = [{"loss": 3.0}, {"loss": "x"}, "junk", {"step": 1}] + [{"loss": 1.0}] * 5
    assert probes.final_loss(log) == 1.0
    assert probes.final_loss([]) is None


def test_a_probe_the_model_cannot_answer_finds_nothing_and_the_next_one_runs():
    from grader.judge.errors import LearnerException

    def crashes():
        raise LearnerException("RuntimeError: boom")

    found = probes.first(crashes, lambda: None, lambda: probes.reads_padding(0.5))
    assert found is not None and found.shape == "reads_padding"
    assert probes.first(crashes) is None


def test_more_padding_picks_rows_with_room_and_adds_columns_only():
    from grader.judge.trained import more_padding

    ids = torch.tensor([[5, 6, 7, 8, 9, 5, 6, 7, 8, 9, 5, 6], [5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                        [5, 6, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    trimmed, padded = more_padding(ids, PAD, rows=8)
    assert padded.tolist() == ids[1:].tolist()  # the full row has no room for more padding
    assert trimmed.tolist() == [[5, 6, 0], [5, 6, 7]]
    full = torch.full((2, 4), 5)
    assert more_padding(full, PAD, rows=8)[1].tolist() == full.tolist()  # no row has room: all rows, unchanged
