"""Early stopping and the history log, on their own."""

from wide_deep.core.callbacks import EarlyStopping, HistoryLog


def test_early_stopping_counts_epochs_without_a_gain():
    stopping = EarlyStopping(patience=2)
    assert stopping.update(0.6) and stopping.best == 0.6
    assert not stopping.update(0.6)  # equal is not a gain
    assert not stopping.should_stop
    assert not stopping.update(0.5) and stopping.should_stop
    never = EarlyStopping(patience=0)
    for _ in range(10):
        never.update(0.1)
    assert not never.should_stop


def test_history_is_written_whole_and_read_back(tmp_path):
    log = HistoryLog(tmp_path / "history.csv")
    assert log.read() == []
    rows = [{"epoch": 1, "loss": 0.5, "val_auc": 0.7}, {"epoch": 2, "loss": 0.4, "val_auc": 0.75}]
    log.write(rows)
    assert log.read() == rows and isinstance(log.read()[0]["epoch"], int)
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]  # no partial file left behind
