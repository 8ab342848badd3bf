from challenge.training.plot import plot_curves


def test_curves_are_drawn_for_the_metrics_present(tmp_path):
    history = [{"step": s, "loss": 1 / (s + 1), "train_acc": min(1, s / 50), "val_acc": min(1, s / 200)}
               for s in range(0, 300, 10)]
    path = plot_curves(history, ["train_acc", "val_acc"], title="grokking", output=tmp_path / "curves.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_matching_metric_draws_nothing(tmp_path):
    assert plot_curves([{"step": 1, "loss": 0.5}], ["val_acc"], title="x", output=tmp_path / "c.png") is None
    assert not (tmp_path / "c.png").exists()
