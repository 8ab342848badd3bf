"""The training log of a checkpoint reaches the hidden tests as ``options["training_log"]``."""

from challenge.training.checkpoints import read_training_log


def test_records_are_read_in_order_and_bad_lines_skipped(tmp_path):
    (tmp_path / "training_log.jsonl").write_text(
        '{"step": 0, "loss": 4.1, "train_acc": 0.02}\n[1, 2]\nnot json\n{"step": 10, "loss": 0.5, "val_acc": 0.1}\n'
        '{"step": 20, "lo', encoding="utf-8")  # a list, a torn line and a cut-off last line are skipped
    assert read_training_log(tmp_path) == [{"step": 0, "loss": 4.1, "train_acc": 0.02},
                                           {"step": 10, "loss": 0.5, "val_acc": 0.1}]


def test_a_checkpoint_without_a_log_has_an_empty_one(tmp_path):
    assert read_training_log(tmp_path) == []
