"""The scorecard reproduces a wide-only model exactly; reason codes add up to the logit."""
from __future__ import annotations

import numpy as np
import pytest

from feature_columns.fitting import fit_state, prepare_frame
from wide_deep.explain import Explainer, reason_codes
from wide_deep.model import ModelConfig
from wide_deep.scorecard import Scaling, attribute_labels, build_scorecard, score_from_table
from wide_deep.trainer import Estimator, TrainConfig


def trained(toy_spec, toy_frame, tmp_path, model_type: str) -> tuple[Estimator, dict]:
    spec = toy_spec.for_model(model_type, use_crosses=True)
    arrays = prepare_frame(spec, toy_frame)
    estimator = Estimator(tmp_path, spec, fit_state(spec, arrays), ModelConfig(model_type=model_type, hidden_units=(16, 8)),
                          TrainConfig(batch_size=64, learning_rate=3e-2, epochs=4, early_stopping_patience=0),
                          log=lambda *_: None)
    labels = toy_frame["y"].to_numpy()
    estimator.train(arrays, labels, arrays, labels)
    return estimator, arrays


def test_scorecard_reproduces_a_wide_only_model_exactly(toy_spec, toy_frame, tmp_path):
    estimator, arrays = trained(toy_spec, toy_frame, tmp_path, "wide")
    scaling = Scaling(base_score=600, base_odds=50, pdo=20)
    table, summary = build_scorecard(estimator, scaling)
    assert not summary["has_deep_term"]
    encoded = estimator.encode(arrays)
    logit = estimator._logit_fn(encoded).numpy().astype("float64")
    from_table = score_from_table(table, summary, encoded["wide_ids"].numpy(),
                                  encoded["wide_dense"].numpy() if "wide_dense" in encoded else None,
                                  estimator.layout.wide_segments)
    np.testing.assert_allclose(from_table, scaling.score(logit), atol=1e-3)   # points are float64 of f32 weights
    assert (table.loc[table["attribute_index"] >= 0, "points"] >= -1e-9).all()  # the riskiest attribute gets 0
    assert table.groupby("characteristic")["points"].min().abs().max() < 1e-9 or "amount" in set(table["characteristic"])
    # doubling the odds adds PDO points; a higher score means lower risk
    assert scaling.score(np.log(1 / 50)) == pytest.approx(600) and scaling.score(np.log(1 / 100)) == pytest.approx(620)
    assert np.corrcoef(from_table, logit)[0, 1] < -0.999


def test_attribute_labels_cover_every_index():
    from feature_columns import bucketized_column, categorical_column_with_vocabulary_list
    assert attribute_labels(bucketized_column("x", [1, 5]), {"boundaries": [1.0, 5.0]}) == ["< 1", "[1, 5)", ">= 5", "(missing)"]
    labels = attribute_labels(categorical_column_with_vocabulary_list("c", ["a", ""]), {"vocabulary": ["a", ""]})
    assert labels[0].startswith("unseen") and labels[1:] == ["a", "(missing)"]


@pytest.mark.parametrize("model_type, tolerance", [("wide", 1e-4), ("wide_deep", 0.01), ("deep", 0.01)])
def test_reason_codes_add_up_to_the_logit(toy_spec, toy_frame, tmp_path, model_type, tolerance):
    estimator, arrays = trained(toy_spec, toy_frame, tmp_path, model_type)
    encoded = estimator.encode(arrays)
    explainer = Explainer(estimator, encoded, steps=128)
    out = explainer.contributions(encoded)
    np.testing.assert_allclose(out["logit"], estimator._logit_fn(encoded).numpy(), atol=1e-5)
    assert np.abs(out["residual"]).max() < tolerance       # completeness (exact for the wide branch)
    if model_type != "wide":  # the integrated-gradients residual shrinks as the path integral gets finer
        coarse = Explainer(estimator, encoded, steps=8).contributions(encoded)["residual"]
        assert np.abs(out["residual"]).mean() < np.abs(coarse).mean()
    assert set(explainer.features) <= {"city", "tier", "amount", "age", "city_x_tier", "city_x_age"}
    # contributions are centred: on the training rows the wide parts average to zero
    if model_type == "wide":
        np.testing.assert_allclose(out["contributions"].mean(axis=0), 0, atol=1e-5)
    reasons = reason_codes(explainer.features, out["contributions"], k=2)
    assert all(len(r) <= 2 and all(c > 0 for _, c in r) for r in reasons)
    row = int(np.argmax(out["contributions"].max(axis=1)))
    assert reasons[row][0] == (explainer.features[int(np.argmax(out["contributions"][row]))],
                               pytest.approx(out["contributions"][row].max()))


def test_deep_logit_reconstruction_matches_the_core(toy_spec, toy_frame, tmp_path):
    """The explainer's deep input/head rebuild equals the core: core logit = wide + deep + bias."""
    estimator, arrays = trained(toy_spec, toy_frame, tmp_path, "deep")
    encoded = estimator.encode(arrays)
    explainer = Explainer(estimator, encoded)
    deep = explainer.deep_logit(explainer.deep_input(encoded)).numpy()
    np.testing.assert_allclose(deep + explainer.bias, estimator._logit_fn(encoded).numpy(), atol=1e-5)
