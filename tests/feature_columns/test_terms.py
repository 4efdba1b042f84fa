"""A GA2M's trees compiled into one table per feature or pair: the tables score every row exactly as LightGBM's
trees do (held-out rows with missing numbers, zeros, missing and unseen categories), round-trip through JSON and
through a saved Keras layer, and describe their cells."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from feature_columns.fitting import GBDT
from feature_columns.kinds import entry_from_json
from feature_columns.terms import Terms
from feature_columns.tree_layers import TermCells
from tests.conftest import quiet
from wide_deep.core.gbdt import TreeMatrix, compile_terms, fit_trees
from wide_deep.record.config import RunConfig
from wide_deep.run.prepared import prepare_data


@pytest.fixture(scope="module")
def german_terms():
    data = prepare_data(RunConfig(dataset="german"), log=quiet)
    spec = data.spec.for_model("wide_deep", use_crosses=True, gbdt=True)
    pairs = [("status_of_existing_checking_account", "duration_in_month"), ("credit_amount", "purpose")]
    state = fit_trees(spec, data.state, data.splits["train"], data.splits["valid"], seed=0, log=quiet, pairs=pairs)
    return data, spec, TreeMatrix(spec, data.state), state[GBDT], pairs


def held_out(data, spec):
    rows = dict(data.splits["test"].arrays)
    for column in spec.input_columns:  # unseen categories, missing categories, missing numbers and zeros
        values = rows[column.name].copy()
        if values.dtype == object:
            values[:15], values[15:30] = "never seen in training", ""
        else:
            values[30:45], values[45:60] = np.nan, 0
        rows[column.name] = values
    return rows


def term_margin(terms: Terms, x: np.ndarray) -> np.ndarray:
    cells = TermCells(terms)(tf.constant(x)).numpy()
    return sum(np.asarray(term.values)[cells[:, t]] for t, term in enumerate(terms.trees))


def test_the_tables_score_as_the_trees_do(german_terms):
    import lightgbm as lgb

    data, spec, matrix, terms, pairs = german_terms
    x = matrix(held_out(data, spec))
    train, valid = data.splits["train"], data.splits["valid"]
    position = {name: j for j, name in enumerate(matrix.columns)}
    constraints = [[j] for j in range(len(matrix.columns))] + [[position[a], position[b]] for a, b in pairs]
    booster = lgb.LGBMClassifier(
        num_leaves=3, n_estimators=60, interaction_constraints=constraints, verbose=-1, random_state=0
    ).fit(matrix(train.arrays), train.labels, categorical_feature=matrix.categorical)
    from feature_columns.trees import Trees

    trees = Trees.from_lightgbm(booster.booster_, matrix.columns, [j in matrix.categorical for j in range(x.shape[1])])
    compiled = compile_terms(trees)
    assert np.isnan(x).any() and (x == 0).any()
    np.testing.assert_allclose(term_margin(compiled, x), booster.predict(x, raw_score=True), atol=1e-9)
    assert all(len(term.axes) <= 2 for term in compiled.trees) and compiled.source_trees == 60
    # the run's own GA2M (tuned on validation) compiles the same way, and reads one feature or a named pair a term
    assert terms.source_trees > len(terms.trees) and {len(t.axes) for t in terms.trees} == {1, 2}
    named = {frozenset(pair) for pair in pairs}
    assert all(frozenset(matrix.columns[f] for f in t.feature) in named for t in terms.trees if len(t.axes) == 2)
    assert np.isfinite(term_margin(terms, x)).all() and valid.labels.size


def test_the_terms_round_trip_through_json_and_a_saved_layer(german_terms, tmp_path):
    import keras

    data, spec, matrix, terms, _ = german_terms
    assert entry_from_json(GBDT, terms.to_json()) == terms
    x = matrix(held_out(data, spec))
    inputs = keras.Input((x.shape[1],))
    model = keras.Model(inputs, TermCells(terms)(inputs))
    model.save(tmp_path / "cells.keras")
    again = keras.models.load_model(tmp_path / "cells.keras")
    np.testing.assert_array_equal(again(x).numpy(), model(x).numpy())


def test_each_cell_is_named_and_shared_among_its_features(german_terms):
    *_, terms, _ = german_terms
    names = {"status_of_existing_checking_account": [f"status#{code}" for code in range(10)]}
    for t, term in enumerate(terms.trees):
        labels = terms.leaf_labels(t, names)
        assert len(labels) == term.num_leaves == len(set(labels))
        assert all(terms.columns[f] in label for f in term.feature for label in labels)
    shares = terms.feature_shares()
    assert shares.shape == (sum(t.num_leaves for t in terms.trees), len(terms.columns))
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-6)
    pair = next(t for t, term in enumerate(terms.trees) if len(term.axes) == 2)
    assert " × " in terms.term_name(pair) and " and " in terms.leaf_labels(pair)[0]


def test_scoring_the_terms_writes_no_onednn_error_line(german_terms, tmp_path):
    """oneDNN's CPU transpose refuses integer tensors on machines without AVX-512 and writes an `E` line to stderr
    that looks like a failure: the layer's integer cells never go through a transpose."""
    import subprocess
    import sys

    data, spec, matrix, terms, _ = german_terms
    (tmp_path / "terms.json").write_text(__import__("json").dumps(terms.to_json()))
    np.save(tmp_path / "x.npy", matrix(held_out(data, spec)))
    script = (
        "import json, sys, numpy as np, tensorflow as tf\n"
        "from feature_columns.terms import Terms\n"
        "from feature_columns.tree_layers import TermCells\n"
        "layer = TermCells(Terms.from_json(json.load(open(sys.argv[1]))))\n"
        "print(tf.function(layer)(tf.constant(np.load(sys.argv[2]))).numpy().sum())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "terms.json"), str(tmp_path / "x.npy")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "oneDNN supports" not in done.stderr
