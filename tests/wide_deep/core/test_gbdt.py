"""The GBDT wide branch's trees are the tuned LightGBM: fitted on the training split, stopped early on validation."""

from __future__ import annotations

import numpy as np

from feature_columns.fitting import GBDT
from tests.conftest import quiet
from wide_deep.core.gbdt import GRID, SETTINGS, TreeMatrix, fit_trees
from wide_deep.record.config import RunConfig
from wide_deep.run.prepared import prepare_data


def test_fit_trees_adds_the_tuned_trees_to_the_state():
    data = prepare_data(RunConfig(dataset="german"), log=quiet)
    spec = data.spec.for_model("wide_deep", use_crosses=True, gbdt=True)
    said = []
    state = fit_trees(spec, data.state, data.splits["train"], data.splits["valid"], seed=0, log=said.append)
    trees = state[GBDT]
    assert {k: v for k, v in state.items() if k != GBDT} == data.state
    assert trees.columns == tuple(c.name for c in spec.input_columns)
    assert "personal_status_and_sex" not in trees.columns  # protected columns stay out of the trees too
    assert said[0] == f"GBDT wide branch: tuning LightGBM on validation ({len(SETTINGS)} settings)"
    assert [line.startswith(f"  LightGBM {i + 1}/{len(SETTINGS)} ") for i, line in enumerate(said[1:-1])] == [
        True
    ] * len(SETTINGS)
    assert "GBDT wide branch: LightGBM" in said[-1] and f"with {len(trees.trees)} trees" in said[-1]
    assert any(str(leaves) in said[-1] for leaves in GRID["num_leaves"])
    again = fit_trees(spec, data.state, data.splits["train"], data.splits["valid"], seed=0, log=quiet)[GBDT]
    assert again == trees  # deterministic
    x = TreeMatrix(spec, data.state)(data.splits["valid"].arrays)
    assert x.shape == (200, len(trees.columns)) and x.dtype == np.float64
