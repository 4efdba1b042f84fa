"""GBDT trees as wide columns: the in-graph walk gives LightGBM's own leaves, on held-out rows with missing and
unseen values; the trees round-trip through JSON and describe their leaves."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from feature_columns import tree_layers
from feature_columns.fitting import GBDT
from feature_columns.kinds import entry_from_json
from feature_columns.tree_layers import TreeLeaves
from feature_columns.trees import Trees
from tests.conftest import quiet
from wide_deep.core.gbdt import TreeMatrix, tune
from wide_deep.record.config import RunConfig
from wide_deep.run.prepared import prepare_data


@pytest.fixture(scope="module")
def german_trees():
    data = prepare_data(RunConfig(dataset="german"), log=quiet)
    spec = data.spec.for_model("wide_deep", use_crosses=True, gbdt=True)
    matrix = TreeMatrix(spec, data.state)
    train, valid = data.splits["train"], data.splits["valid"]
    tuned = tune(matrix(train.arrays), train.labels, matrix(valid.arrays), valid.labels, matrix.categorical, seed=0)
    booster = tuned.model.booster_
    trees = Trees.from_lightgbm(booster, matrix.columns, [j in matrix.categorical for j in range(len(matrix.columns))])
    trees = Trees(trees.columns, trees.categorical, trees.trees[: tuned.trees])
    return data, spec, matrix, tuned, trees


def test_in_graph_leaves_equal_lightgbm_on_held_out_rows(german_trees, monkeypatch):
    data, spec, matrix, tuned, trees = german_trees
    rows = dict(data.splits["test"].arrays)
    for column in spec.input_columns:  # unseen categories, missing categories and missing numbers
        values = rows[column.name].copy()
        if values.dtype == object:
            values[:15], values[15:30] = "never seen in training", ""
        else:
            values[30:45] = np.nan
        rows[column.name] = values
    x = matrix(rows)
    assert np.isnan(x).any() and len(trees.trees) == tuned.trees > 10
    expected = tuned.model.predict(x, pred_leaf=True, num_iteration=tuned.trees)
    layer = TreeLeaves(trees)
    leaves = layer(tf.constant(x)).numpy()
    np.testing.assert_array_equal(leaves, expected)
    layer.block_rows = 37  # a batch larger than a block is decided block by block, the last one partial
    assert len(x) > 2 * layer.block_rows and len(x) % layer.block_rows
    np.testing.assert_array_equal(layer(tf.constant(x)).numpy(), expected)
    monkeypatch.setattr(tree_layers, "LEAF_TABLE_LIMIT", 0)  # trees too large for a leaf table: path matrices
    np.testing.assert_array_equal(TreeLeaves(trees)(tf.constant(x)).numpy(), expected)
    margin = np.array([[tree.leaf_values[leaf] for tree, leaf in zip(trees.trees, row)] for row in leaves]).sum(1)
    np.testing.assert_allclose(margin, tuned.raw(x), atol=1e-9)  # the raw score is the sum of the leaves


def test_categorical_codes_are_vocabulary_positions_and_unseen_is_missing(german_trees):
    data, spec, matrix, _, _ = german_trees
    purpose = matrix.columns.index("purpose")
    vocabulary = list(data.state["purpose"].values)
    rows = {k: v[:3].copy() for k, v in data.splits["test"].arrays.items()}
    rows["purpose"] = np.array([vocabulary[2], "something new", ""], dtype=object)
    x = matrix(rows)
    assert x[0, purpose] == 2 and np.isnan(x[1, purpose]) and np.isnan(x[2, purpose])
    amount = matrix.columns.index("credit_amount")
    np.testing.assert_array_equal(x[:, amount], rows["credit_amount"].astype("float64"))


def test_trees_round_trip_and_describe_their_leaves(german_trees):
    *_, trees = german_trees
    again = entry_from_json(GBDT, trees.to_json())
    assert again == trees and trees.cardinality == sum(t.num_leaves for t in trees.trees)
    labels = trees.leaf_labels(0)
    assert len(labels) == trees.trees[0].num_leaves and all(" and " in label or label for label in labels)
    assert any(name in labels[0] for name in trees.columns)
    categorical = [name for name, is_categorical in zip(trees.columns, trees.categorical) if is_categorical]
    names = {name: [f"{name}#{code}" for code in range(100)] for name in categorical}
    named = [label for t in range(len(trees.trees)) for label in trees.leaf_labels(t, names)]
    coded = [label for t in range(len(trees.trees)) for label in trees.leaf_labels(t)]
    assert any("codes " in label for label in coded)  # a categorical split, shown by code without names ...
    assert not any("codes " in label for label in named) and any("#" in label for label in named)  # ... or named
    shares = trees.feature_shares()
    assert shares.shape == (trees.cardinality, len(trees.columns))
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-6)  # each leaf's output fully shared out


def test_the_scorecard_names_a_categorical_split_by_its_training_values(german_trees):
    from wide_deep.evidence.scorecard import tree_category_names

    data, spec, _, _, trees = german_trees
    names = tree_category_names(trees, spec, data.state)
    for t, tree in enumerate(trees.trees):
        node = next((n for n, cats in enumerate(tree.categories) if cats), None)
        if node is None:
            continue
        column = trees.columns[tree.feature[node]]
        left = {data.state[column].values[code] for code in tree.categories[node]}  # code = vocabulary position
        label = next(label for label in trees.leaf_labels(t, names) if f"{column} in {{" in label)
        assert set(label.split(f"{column} in {{")[1].split("}")[0].split(", ")) == left
        return
    pytest.fail("no categorical split in the German trees")
