"""The log-information probe on small synthetic data: its four feature sets, the regression on the true log-odds,
and the log-amount statistics."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from tests.conftest import quiet, sme_config
from wide_deep.research.information import LATENT, log_amount_stats, probe


def test_probe_rows_and_log_amount_statistics(small_sme, tmp_path):
    from wide_deep.run.prepared import prepare_data

    config = sme_config(small_sme, tmp_path / "unused")
    data = prepare_data(dataclasses.replace(config, model=dataclasses.replace(config.model, sequences="both")), quiet)
    applications = pd.read_parquet(small_sme / "applications.parquet")
    log = pd.read_parquet(small_sme / "transactions")
    amounts = log_amount_stats(log, applications, data.spec)
    first = applications["enterprise_id"].iloc[0]
    own = np.log(log.loc[(log["enterprise_id"] == first) & (log["amount"] > 0), "amount"])
    assert np.isclose(amounts.loc[first, "log_amount_sd"], own.std(ddof=1))
    assert np.isclose(amounts.loc[first, "log_amount_mean"], own.mean())
    table = probe(data, small_sme / "truth.parquet", amounts, log=quiet).set_index("features")
    assert list(table.index) == ["features", "sequence", "log_amount_stats", "latent", "truth_as_target"]
    assert table.loc["latent", "columns"] == table.loc["features", "columns"] + len(LATENT)
    assert table.loc["sequence", "columns"] == table.loc["features", "columns"] + 26 * 4
    assert table["test_auc"].between(0.5, 1).all() and table["delong_p"].iloc[1:].between(0, 1).all()
    # learnt from the true log-odds instead of the 0/1 labels, the same features rank the test rows better
    assert table.loc["truth_as_target", "columns"] == table.loc["features", "columns"]
    assert table.loc["truth_as_target", "test_auc"] > table.loc["features", "test_auc"]
