"""The scorecard reproduces a wide-only model exactly, with PDO scaling and readable attributes."""

from __future__ import annotations

import numpy as np
import pytest

from feature_columns.fitting import Buckets, HashBuckets, Vocabulary
from tests.conftest import toy_estimator, train_toy
from wide_deep.evidence.scorecard import (
    Scaling,
    attribute_labels,
    build_scorecard,
    score_from_table,
    scorecard_markdown,
)


def test_scorecard_reproduces_a_wide_only_model_exactly(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = toy_estimator(
        toy_spec, toy_frame, tmp_path, "wide", learning_rate=3e-2, epochs=4, early_stopping_patience=0
    )
    train_toy(estimator, arrays, labels)
    scaling = Scaling(base_score=600, base_odds=50, pdo=20)
    table, summary = build_scorecard(estimator, scaling)
    assert not summary["has_deep_term"]
    encoded = estimator.encode(arrays)
    logit = estimator.logits_encoded(encoded).astype("float64")
    from_table = score_from_table(
        table,
        summary,
        encoded["wide_ids"].numpy(),
        encoded["wide_dense"].numpy() if "wide_dense" in encoded else None,
        estimator.layout.wide_segments,
    )
    np.testing.assert_allclose(from_table, scaling.score(logit), atol=1e-3)  # points are float64 of f32 weights
    attributes = table[table["attribute_index"] >= 0]
    assert (attributes["points"] >= -1e-9).all()
    assert attributes.groupby("characteristic")["points"].min().abs().max() < 1e-9  # the riskiest attribute gets 0
    assert set(table.loc[table["attribute_index"] < 0, "characteristic"]) == {"amount"}  # numeric: points per unit
    # doubling the odds adds PDO points; a higher score means lower risk
    assert scaling.score(np.log(1 / 50)) == pytest.approx(600) and scaling.score(np.log(1 / 100)) == pytest.approx(620)
    assert np.corrcoef(from_table, logit)[0, 1] < -0.999
    text = scorecard_markdown(table, summary)
    assert "higher score means lower risk" in text and "## city_x_tier" in text


def test_attribute_labels_cover_every_index():
    from feature_columns import bucketized_column, categorical_column_with_vocabulary_list, crossed_column

    assert attribute_labels(bucketized_column("x", [1, 5]), Buckets((1.0, 5.0))) == [
        "< 1",
        "[1, 5)",
        ">= 5",
        "(missing)",
    ]
    labels = attribute_labels(categorical_column_with_vocabulary_list("c", ["a", ""]), Vocabulary(("a", "")))
    assert labels[0].startswith("unseen") and labels[1:] == ["a", "(missing)"]
    cross = attribute_labels(crossed_column(["a", "b"]), Vocabulary(("x\x1fy",)))
    assert cross == ["other combinations (unseen or rare in training)", "x × y"]
    assert attribute_labels(categorical_column_with_vocabulary_list("h", None), HashBuckets(2)) == [
        "hash bucket 0",
        "hash bucket 1",
    ]
