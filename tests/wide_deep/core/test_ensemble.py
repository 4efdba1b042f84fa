"""Merging K trained cores into one whose logit is the mean of theirs (`--ensemble_seeds`)."""

import numpy as np
import pytest
import tensorflow as tf

from feature_columns.preprocessor import EncodedLayout, WideSegment
from wide_deep.core.config import ModelConfig
from wide_deep.core.ensemble import merge_cores
from wide_deep.core.model import build_core

LAYOUT = EncodedLayout(
    wide_segments=(WideSegment("city", 0, 4), WideSegment("industry", 4, 3), WideSegment("tree_0", 7, 5, tree=0)),
    wide_dense_names=("loans", "overdue_days"),
    deep_dense_names=("amount", "count", "variance"),
    deep_embeddings=(("city", 4, 3), ("industry", 3, 2)),
)


def _batch(rows: int, rng) -> dict[str, tf.Tensor]:
    ids = np.stack([rng.integers(0, 4, rows), 4 + rng.integers(0, 3, rows), 7 + rng.integers(0, 5, rows)], axis=1)
    return {
        "wide_ids": tf.constant(ids, tf.int64),
        "wide_dense": tf.constant(rng.normal(size=(rows, 2)), tf.float32),
        "deep_dense": tf.constant(rng.normal(size=(rows, 3)), tf.float32),
        "deep_ids_city": tf.constant(rng.integers(0, 4, rows), tf.int64),
        "deep_ids_industry": tf.constant(rng.integers(0, 3, rows), tf.int64),
    }


def _randomised(config: ModelConfig, rng, blended: bool):
    """A member core with every weight random (as if trained), its GBDT leaves blended in or not."""
    core = build_core(LAYOUT, config)
    for variable in core.weights:
        if "tree_mask" in variable.path:
            variable.assign(np.where(np.arange(LAYOUT.wide_size) < 7, 1.0, float(blended)).astype("float32"))
        elif "moving_variance" in variable.path:
            variable.assign(rng.uniform(0.5, 2.0, variable.shape).astype("float32"))
        else:
            variable.assign(rng.normal(scale=0.5, size=variable.shape).astype("float32"))
    return core


@pytest.mark.parametrize("batch_norm", [False, True])
def test_the_merged_core_is_the_mean_of_its_members(batch_norm):
    rng = np.random.default_rng(0)
    member_config = ModelConfig(hidden_units=(8, 4), batch_norm=batch_norm, dropout=0.2, wide_gbdt=True)
    members = [_randomised(member_config, rng, blended=k != 1) for k in range(3)]  # member 1 kept its trees out
    merged = build_core(LAYOUT, ModelConfig(hidden_units=(8, 4), batch_norm=batch_norm, dropout=0.2, ensemble_seeds=3))
    merged_with_trees = build_core(
        LAYOUT, ModelConfig(hidden_units=(8, 4), batch_norm=batch_norm, wide_gbdt=True, ensemble_seeds=3)
    )
    assert merged.get_layer("deep_hidden_0").kernel.shape == (3 + 3 * 3 + 3 * 2, 24)
    batch = _batch(64, rng)
    expected = np.mean([m(batch, training=False).numpy() for m in members], axis=0)
    for target in (merged, merged_with_trees):
        merge_cores(target, members, LAYOUT)
        np.testing.assert_allclose(target(batch, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_a_wide_only_ensemble_is_the_mean_logistic_regression():
    rng = np.random.default_rng(1)
    members = [_randomised(ModelConfig(model_type="wide"), rng, blended=True) for _ in range(2)]
    merged = build_core(LAYOUT, ModelConfig(model_type="wide", ensemble_seeds=2))
    merge_cores(merged, members, LAYOUT)
    table = merged.get_layer("wide_ids_weights").effective_table().numpy()
    np.testing.assert_allclose(
        table, np.mean([m.get_layer("wide_ids_weights").effective_table().numpy() for m in members], 0), atol=1e-6
    )
    batch = _batch(16, rng)
    expected = np.mean([m(batch).numpy() for m in members], axis=0)
    np.testing.assert_allclose(merged(batch).numpy(), expected, rtol=1e-5, atol=1e-5)
