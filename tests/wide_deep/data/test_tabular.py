"""Prepared rows as a tree model's frame: categoricals over the training vocabulary."""

import numpy as np

from feature_columns.fitting import fit_state
from feature_columns.inputs import prepare_frame
from wide_deep.data.tabular import tree_frame


def test_tree_frame_uses_the_training_vocabulary(toy_spec, toy_frame):
    spec = toy_spec.for_model("wide", use_crosses=False)
    arrays = prepare_frame(spec, toy_frame)
    state = fit_state(spec, {k: v[:200] for k, v in arrays.items()})
    arrays["city"] = arrays["city"].copy()
    arrays["city"][0] = "never-seen"
    frame = tree_frame(spec, state, arrays)
    assert list(frame.columns) == ["city", "tier", "amount", "age"]
    assert list(frame["city"].cat.categories) == list(state["city"].values)
    assert frame["city"].isna().sum() == 1  # unseen → missing to the trees
    np.testing.assert_array_equal(frame["amount"].to_numpy(), arrays["amount"])
