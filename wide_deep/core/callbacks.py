"""What happens at the end of every epoch besides training: early stopping, history.csv, TensorBoard summaries.

Each is a small object the trainer calls in a fixed order (early stopping, then the history,
then the checkpoint, then the summaries), so a run killed at any point resumes consistently.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import tensorflow as tf


class EarlyStopping:
    """Stop after `patience` epochs without a validation AUC gain (0: never); its state is checkpointed."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best_auc = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="best_auc")
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_epochs")
        self.stopped = tf.Variable(False, trainable=False, name="stopped")

    def trackables(self) -> dict:
        return {"best_auc": self.best_auc, "bad_epochs": self.bad_epochs, "stopped": self.stopped}

    @property
    def should_stop(self) -> bool:
        return bool(self.stopped.numpy())

    @property
    def best(self) -> float:
        return float(self.best_auc.numpy())

    def update(self, val_auc: float) -> bool:
        """Record one epoch's validation AUC; True when it is the best so far."""
        if val_auc > self.best:
            self.best_auc.assign(val_auc)
            self.bad_epochs.assign(0)
            return True
        self.bad_epochs.assign_add(1)
        if self.patience and int(self.bad_epochs.numpy()) >= self.patience:
            self.stopped.assign(True)
        return False


class HistoryLog:
    """history.csv: one row per epoch, rewritten atomically after each epoch."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        with self.path.open() as f:
            return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(f)]

    def write(self, history: list[dict]) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        try:
            with partial.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(history[0]))
                writer.writeheader()
                writer.writerows(history)
            os.replace(partial, self.path)  # atomic: a killed process leaves the old or the new file, never half
        finally:
            partial.unlink(missing_ok=True)


class SummaryLog:
    """TensorBoard scalars per epoch."""

    KEYS = ("loss", "val_loss", "val_auc", "examples_per_sec")

    def __init__(self, directory: str | Path):
        self.writer = tf.summary.create_file_writer(str(directory))

    def write(self, row: dict) -> None:
        with self.writer.as_default(step=row["epoch"]):
            for key in self.KEYS:
                tf.summary.scalar(key, row[key])
