"""Scoring one applicant from raw transactions equals the training/batch pipeline (no train/serve skew)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feature_columns.errors import DataError


def test_one_applicant_from_raw_transactions_matches_the_batch_pipeline(sme_run, small_sme, tmp_path):
    from wide_deep.data import load_dataset
    from wide_deep.scoring import Scorer, score_file
    model_dir, _ = sme_run
    scorer = Scorer(model_dir)
    apps = pd.read_parquet(small_sme / "applications.parquet")
    log = pd.read_parquet(small_sme / "transactions")
    batch = load_dataset(scorer.spec, small_sme / "applications.parquet", log=lambda *_: None)
    score_file(model_dir, small_sme / "applications.parquet", tmp_path / "scores.parquet", log=lambda *_: None)
    batch_scores = pd.read_parquet(tmp_path / "scores.parquet")

    names = [c.name for c in scorer.spec.input_columns]
    for position in (0, 17, 1234, 2999):
        application = apps.iloc[position].to_dict()
        own_transactions = log[log[scorer.spec.id_column] == application[scorer.spec.id_column]]
        scored = scorer.score_applicant(application, own_transactions)
        for name in names:  # the features the model saw in training, row by row
            trained_on = batch.arrays[name][position]
            served = scored["features"][name]
            if isinstance(trained_on, str):
                assert str(served) == trained_on or (trained_on == "" and pd.isna(served)), name
            else:
                np.testing.assert_allclose(np.float32(np.nan if served is None else served), trained_on, rtol=1e-6,
                                           err_msg=name)
        assert scored["probability"] == pytest.approx(batch_scores["probability"].iloc[position], abs=1e-6)
        assert scored["decision"] == batch_scores["decision"].iloc[position]
        assert scored["unseen_categories"] == []


def test_applicant_without_transactions_needs_the_log(sme_run, small_sme):
    from wide_deep.scoring import Scorer
    scorer = Scorer(sme_run[0])
    application = pd.read_parquet(small_sme / "applications.parquet").iloc[0].to_dict()
    with pytest.raises(DataError, match="no transactions were given"):
        scorer.score_applicant(application)
    empty_log = pd.read_parquet(small_sme / "transactions").iloc[:0]
    scored = scorer.score_applicant(application, empty_log)  # an enterprise with no activity is still scored
    assert scored["features"]["txn_count"] == 0 and 0 < scored["probability"] < 1
