"""The sensitivity study (the paper's Figure 2) on German credit, in process."""

from __future__ import annotations

import pandas as pd
import pytest

from feature_columns.errors import UserError
from tests.conftest import quiet
from wide_deep.record.config import RunConfig
from wide_deep.research.sensitivity import sensitivity_study

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_sensitivity_writes_three_sweeps(tmp_path):
    results = sensitivity_study(
        RunConfig(dataset="german"),
        epochs=50,
        runs_dir=tmp_path / "runs",
        results_dir=tmp_path / "results",
        quick=True,
        log=quiet,
    )
    table = pd.read_csv(results / "sensitivity.csv")
    assert table[table["sweep"] == "epochs"]["value"].tolist() == [1, 2, 3]
    assert table[table["sweep"] == "batch_size"]["value"].tolist() == [128, 256]
    assert table[table["sweep"] == "learning_rate"]["value"].tolist() == [1e-4, 1e-3]
    assert table[["auc", "f1", "f1_weighted"]].notna().all().all()
    epochs = table[table["sweep"] == "epochs"]
    assert epochs["val_auc"].between(0, 1).all() and (epochs["epochs_trained"] == [1, 2, 3]).all()
    assert (results / "sensitivity.png").read_bytes()[:8] == PNG_MAGIC


def test_the_sensitivity_study_refuses_streamed_input(tmp_path):
    with pytest.raises(UserError, match="the sensitivity study"):
        sensitivity_study(RunConfig(streaming=True), 3, tmp_path, tmp_path, log=quiet)
