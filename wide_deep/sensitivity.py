"""The paper's Figure 2: sensitivity of Wide & Deep + Cross to epochs, batch size and learning rate.

The epoch curve comes from one run trained for a fixed number of epochs (no early
stopping), evaluated on the test split after every epoch (a per-epoch hook that reads the
model and never feeds back into training or model selection). The batch-size and
learning-rate sweeps are separate runs with early stopping on validation AUC, as in
`make train`, evaluated once on test.
"""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from wide_deep import metrics
from wide_deep.config import RunConfig
from wide_deep.run import PreparedData, train_and_evaluate

BATCH_SIZES = (32, 64, 128, 256, 512, 1024)
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)


def _reference(base: RunConfig, model_dir: Path, **train) -> RunConfig:
    return dataclasses.replace(base, model_dir=str(model_dir), use_crosses=True, export=False,
                               model=dataclasses.replace(base.model, model_type="wide_deep"),
                               train=dataclasses.replace(base.train, **train))


def epoch_curve(base: RunConfig, data: PreparedData, epochs: int, runs_dir: Path, log=print) -> pd.DataFrame:
    valid_x, valid_y = data.split("valid")
    test_x, test_y = data.split("test")
    cache = {}
    rows = []

    def record(row, estimator):
        if not cache:
            cache["valid"], cache["test"] = estimator.encode(valid_x), estimator.encode(test_x)
        valid_scores = estimator._predict_encoded(cache["valid"])
        test_scores = estimator._predict_encoded(cache["test"])
        result = metrics.evaluate(test_y, test_scores, metrics.f1_threshold(valid_y, valid_scores))
        rows.append({"sweep": "epochs", "value": row["epoch"], "auc": result["auc"], "f1": result["f1"],
                     "f1_weighted": result["f1_weighted"], "val_auc": row["val_auc"], "epochs_trained": row["epoch"]})

    config = _reference(base, runs_dir / "epochs", epochs=epochs, early_stopping_patience=0)
    train_and_evaluate(config, data, log=lambda *_: None, on_epoch_end=record, with_evidence=False)
    log(f"epochs 1..{epochs}: best test AUC {max(r['auc'] for r in rows):.4f} at epoch "
        f"{rows[int(np.argmax([r['auc'] for r in rows]))]['value']}")
    return pd.DataFrame(rows)


def sweep(base: RunConfig, data: PreparedData, field: str, values, runs_dir: Path, log=print) -> pd.DataFrame:
    rows = []
    for value in values:
        result = train_and_evaluate(_reference(base, runs_dir / f"{field}_{value}", **{field: value}), data, log=lambda *_: None,
                                    with_evidence=False)
        rows.append({"sweep": field, "value": value, "auc": result["auc"], "f1": result["f1"],
                     "f1_weighted": result["f1_weighted"], "val_auc": result["valid_auc"],
                     "epochs_trained": result["epochs_trained"], "train_seconds": result["train_seconds"]})
        log(f"{field}={value}: test AUC {result['auc']:.4f}  F1 {result['f1']:.4f}  ({result['epochs_trained']} epochs, "
            f"{result['train_seconds']:.0f} s)")
    return pd.DataFrame(rows)


def run_sensitivity(base: RunConfig, data: PreparedData, runs_dir: Path, epochs: int = 50, batch_sizes=BATCH_SIZES,
                    learning_rates=LEARNING_RATES, log=print) -> pd.DataFrame:
    runs_dir = Path(runs_dir)
    if runs_dir.exists():
        shutil.rmtree(runs_dir)
    return pd.concat([epoch_curve(base, data, epochs, runs_dir, log),
                      sweep(base, data, "batch_size", batch_sizes, runs_dir, log),
                      sweep(base, data, "learning_rate", learning_rates, runs_dir, log)], ignore_index=True)


def plot_sensitivity(table: pd.DataFrame, path: Path, dataset: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (sweep_name, label, log_x) in zip(axes, (("epochs", "epochs", False), ("batch_size", "batch size", True),
                                                      ("learning_rate", "learning rate", True))):
        part = table[table["sweep"] == sweep_name]
        ax.plot(part["value"], part["auc"], "o-", ms=3, label="test AUC")
        ax.plot(part["value"], part["f1"], "s-", ms=3, label="test F1 (default class)")
        ax.plot(part["value"], part["f1_weighted"], "^-", ms=3, label="test F1 (weighted)")
        if log_x:
            ax.set_xscale("log", base=2 if sweep_name == "batch_size" else 10)
            ax.set_xticks(part["value"], [f"{v:g}" for v in part["value"]], fontsize=7)
        ax.set(xlabel=label, title=f"Wide & Deep + Cross vs {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Sensitivity on {dataset} (test split)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
