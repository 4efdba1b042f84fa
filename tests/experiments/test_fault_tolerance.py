"""A training process killed with SIGKILL resumes from its last checkpoint and ends where an
uninterrupted run ends (deterministic ops, per-epoch seeded shuffles)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd

from tests.conftest import PROJECT_ROOT, run_cli, sigkill_after_epochs

ARGS = [  # the accurate preset (warm start, GBDT wide columns), without its small-data step budget
    "--dataset=german",
    "--epochs=25",
    "--min_steps=0",
    "--learning_rate=1e-3",
    "--early_stopping_patience=0",
    "--export=false",
    "--noevidence",
]


def test_sigkilled_run_resumes_to_the_same_metrics(tmp_path):
    """The uninterrupted reference is trained in this process (the same flags as a config); the killed run
    and its resume are real CLI processes."""
    from tests.conftest import quiet
    from wide_deep.core.config import ModelConfig, TrainConfig
    from wide_deep.record.config import MODEL_PRESET_FIELDS, PRESETS, RunConfig
    from wide_deep.run.pipeline import run_training

    run_training(
        RunConfig(
            dataset="german",
            model_dir=str(tmp_path / "reference"),
            export=False,
            evidence=False,
            model=ModelConfig(**{k: v for k, v in PRESETS["accurate"].items() if k in MODEL_PRESET_FIELDS}),
            train=TrainConfig(epochs=25, learning_rate=1e-3, early_stopping_patience=0),
        ),
        log=quiet,
    )

    killed_dir = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *ARGS, f"--model_dir={killed_dir}"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sigkill_after_epochs(process, killed_dir / "history.csv", epochs=5)
    assert not (killed_dir / "metrics.json").exists()
    epochs_before = len(pd.read_csv(killed_dir / "history.csv"))
    assert 5 <= epochs_before < 25

    resumed = run_cli(*ARGS, f"--model_dir={killed_dir}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    expected = json.loads((tmp_path / "reference" / "metrics.json").read_text())
    got = json.loads((killed_dir / "metrics.json").read_text())
    for key in ("auc", "log_loss", "brier", "threshold", "f1", "ks", "best_epoch", "epochs_trained"):
        assert got[key] == expected[key], key
    reference_history = pd.read_csv(tmp_path / "reference" / "history.csv")
    resumed_history = pd.read_csv(killed_dir / "history.csv")
    assert resumed_history["epoch"].tolist() == list(range(1, 26))
    pd.testing.assert_series_equal(resumed_history["val_auc"], reference_history["val_auc"])
    pd.testing.assert_series_equal(resumed_history["loss"], reference_history["loss"])
