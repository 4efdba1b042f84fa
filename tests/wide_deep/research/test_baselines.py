"""The baselines a credit modeller would pick instead, on the run's own split and features."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import quiet
from wide_deep.core.warm_start import C_GRID
from wide_deep.evidence.metrics import auc
from wide_deep.record.config import RunConfig
from wide_deep.research.baselines import catboost_baseline, ebm_baseline, lightgbm_baseline, logistic_baseline
from wide_deep.run.prepared import prepare_data


@pytest.fixture(scope="module")
def german():
    return prepare_data(RunConfig(dataset="german"), log=quiet)


@pytest.mark.parametrize("baseline", [lightgbm_baseline, logistic_baseline, catboost_baseline, ebm_baseline])
def test_baselines_beat_chance_on_german_credit(german, baseline):
    out = baseline(german, seed=0, log=quiet)
    test, valid = german.splits["test"], german.splits["valid"]
    assert out["test"].shape == (len(test),) and out["valid"].shape == (len(valid),)
    assert auc(test.labels, out["test"]) > 0.7 and np.all((out["test"] > 0) & (out["test"] < 1))
    assert out["train_seconds"] > 0


def test_logistic_baseline_picks_c_on_validation(german):
    out = logistic_baseline(german, seed=0, log=quiet)
    assert out["params"]["C"] in C_GRID
    again = logistic_baseline(german, seed=0, log=quiet)
    np.testing.assert_array_equal(out["test"], again["test"])  # deterministic
