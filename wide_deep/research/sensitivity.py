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

from wide_deep.data.training_input import require_in_memory
from wide_deep.evidence import metrics
from wide_deep.evidence.plots import pyplot
from wide_deep.record.config import RunConfig
from wide_deep.run.prepared import PreparedData, prepare_data
from wide_deep.run.training import train_and_evaluate

BATCH_SIZES = (32, 64, 128, 256, 512, 1024)
LEARNING_RATES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3)


def _reference(base: RunConfig, model_dir: Path, **train) -> RunConfig:
    return dataclasses.replace(
        base,
        model_dir=str(model_dir),
        use_crosses=True,
        export=False,
        model=dataclasses.replace(base.model, model_type="wide_deep", sequences="aggregates"),  # the paper's model
        train=dataclasses.replace(base.train, **train),
    )


def epoch_curve(base: RunConfig, data: PreparedData, epochs: int, runs_dir: Path, log=print) -> pd.DataFrame:
    valid, test = data.splits["valid"], data.splits["test"]
    valid_y, test_y = valid.labels, test.labels
    cache = {}
    rows = []

    def record(row, estimator):
        if not cache:
            cache["valid"], cache["test"] = estimator.encode(valid.arrays), estimator.encode(test.arrays)
        valid_scores = estimator.predict_encoded(cache["valid"])
        test_scores = estimator.predict_encoded(cache["test"])
        result = metrics.evaluate(test_y, test_scores, metrics.f1_threshold(valid_y, valid_scores))
        rows.append(
            {
                "sweep": "epochs",
                "value": row["epoch"],
                "auc": result["auc"],
                "f1": result["f1"],
                "f1_weighted": result["f1_weighted"],
                "val_auc": row["val_auc"],
                "epochs_trained": row["epoch"],
            }
        )

    config = _reference(base, runs_dir / "epochs", epochs=epochs, early_stopping_patience=0)
    train_and_evaluate(config, data, log=lambda *_: None, on_epoch_end=record, with_evidence=False)
    log(
        f"epochs 1..{epochs}: best test AUC {max(r['auc'] for r in rows):.4f} at epoch "
        f"{rows[int(np.argmax([r['auc'] for r in rows]))]['value']}"
    )
    return pd.DataFrame(rows)


def sweep(base: RunConfig, data: PreparedData, field: str, values, runs_dir: Path, log=print) -> pd.DataFrame:
    rows = []
    for value in values:
        result = train_and_evaluate(
            _reference(base, runs_dir / f"{field}_{value}", **{field: value}),
            data,
            log=lambda *_: None,
            with_evidence=False,
        )
        rows.append(
            {
                "sweep": field,
                "value": value,
                "auc": result["auc"],
                "f1": result["f1"],
                "f1_weighted": result["f1_weighted"],
                "val_auc": result["valid_auc"],
                "epochs_trained": result["epochs_trained"],
                "train_seconds": result["train_seconds"],
            }
        )
        log(
            f"{field}={value}: test AUC {result['auc']:.4f}  F1 {result['f1']:.4f}  "
            f"({result['epochs_trained']} epochs, "
            f"{result['train_seconds']:.0f} s)"
        )
    return pd.DataFrame(rows)


def run_sensitivity(
    base: RunConfig,
    data: PreparedData,
    runs_dir: Path,
    epochs: int = 50,
    batch_sizes=BATCH_SIZES,
    learning_rates=LEARNING_RATES,
    log=print,
) -> pd.DataFrame:
    data.training.require_held("the sensitivity study")
    runs_dir = Path(runs_dir)
    if runs_dir.exists():
        shutil.rmtree(runs_dir)
    return pd.concat(
        [
            epoch_curve(base, data, epochs, runs_dir, log),
            sweep(base, data, "batch_size", batch_sizes, runs_dir, log),
            sweep(base, data, "learning_rate", learning_rates, runs_dir, log),
        ],
        ignore_index=True,
    )


def plot_sensitivity(table: pd.DataFrame, path: Path, dataset: str) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (sweep_name, label, log_x) in zip(
        axes,
        (("epochs", "epochs", False), ("batch_size", "batch size", True), ("learning_rate", "learning rate", True)),
    ):
        part = table[table["sweep"] == sweep_name]
        ax.plot(part["value"], part["auc"], "o-", ms=3, label="test AUC")
        ax.plot(part["value"], part["f1"], "s-", ms=3, label="test F1 (default class)")
        ax.plot(part["value"], part["f1_weighted"], "^-", ms=3, label="test F1 (weighted)")
        if log_x:
            ax.set_xscale("log", base=2 if sweep_name == "batch_size" else 10)
            ax.set_xticks(part["value"], [f"{v:g}" for v in part["value"]], fontsize=7)
        ax.set(xlabel=label, ylabel="test AUC and F1", title=f"Wide & Deep + Cross vs {label}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Sensitivity on {dataset} (test split)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def sensitivity_study(
    base: RunConfig, epochs: int, runs_dir: Path | None, results_dir: Path | None, quick: bool = False, log=print
) -> Path:
    """The whole study as `make sensitivity` runs it: sensitivity.csv and sensitivity.png; returns the folder.

    `quick` (tests): 3 epochs, two values per sweep, at most 3,000/1,000/1,000 rows.
    """
    require_in_memory(base, "the sensitivity study")
    batch_sizes, learning_rates = BATCH_SIZES, LEARNING_RATES
    if quick:
        epochs, batch_sizes, learning_rates = 3, (128, 256), (1e-4, 1e-3)
        base = dataclasses.replace(base, train=dataclasses.replace(base.train, epochs=3))
    data = prepare_data(base, log=log)
    if quick:
        data = data.limited(base.split_seed, train=3000, valid=1000, test=1000)
    results = Path(results_dir or f"results/{data.info.name}")
    results.mkdir(parents=True, exist_ok=True)
    table = run_sensitivity(
        base, data, Path(runs_dir or f"runs/sensitivity/{data.info.name}"), epochs, batch_sizes, learning_rates, log=log
    )
    table.to_csv(results / "sensitivity.csv", index=False)
    plot_sensitivity(table, results / "sensitivity.png", data.info.name)
    return results
