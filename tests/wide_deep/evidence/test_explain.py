"""Reason codes: per-applicant contributions add up to the logit (exactly for the wide branch)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import toy_estimator, train_toy
from wide_deep.evidence.explain import Explainer, reason_codes


def trained(toy_spec, toy_frame, folder, model_type):
    estimator, arrays, labels = toy_estimator(
        toy_spec,
        toy_frame,
        folder,
        model_type,
        hidden_units=(16, 8),
        learning_rate=3e-2,
        epochs=4,
        early_stopping_patience=0,
    )
    train_toy(estimator, arrays, labels)
    return estimator, estimator.encode(arrays)


@pytest.mark.parametrize("model_type, tolerance", [("wide", 1e-4), ("wide_deep", 0.01), ("deep", 0.01)])
def test_reason_codes_add_up_to_the_logit(toy_spec, toy_frame, tmp_path, model_type, tolerance):
    estimator, encoded = trained(toy_spec, toy_frame, tmp_path, model_type)
    explainer = Explainer(estimator, encoded, steps=128)
    out = explainer.contributions(encoded)
    np.testing.assert_allclose(out["logit"], estimator.logits_encoded(encoded), atol=1e-5)
    assert np.abs(out["residual"]).max() < tolerance  # completeness (exact for the wide branch)
    if model_type != "wide":  # the integrated-gradients residual shrinks as the path integral gets finer
        coarse = Explainer(estimator, encoded, steps=8).contributions(encoded)["residual"]
        assert np.abs(out["residual"]).mean() < np.abs(coarse).mean()
    assert set(explainer.features) <= {"city", "tier", "amount", "age", "city_x_tier", "city_x_age"}
    if model_type == "wide":  # contributions are centred: on the training rows the wide parts average to zero
        np.testing.assert_allclose(out["contributions"].mean(axis=0), 0, atol=1e-5)
    reasons = reason_codes(explainer.features, out["contributions"], k=2)
    assert all(len(r) <= 2 and all(c > 0 for _, c in r) for r in reasons)
    row = int(np.argmax(out["contributions"].max(axis=1)))
    assert reasons[row][0] == (
        explainer.features[int(np.argmax(out["contributions"][row]))],
        pytest.approx(out["contributions"][row].max()),
    )


def test_deep_logit_reconstruction_matches_the_core(toy_spec, toy_frame, tmp_path):
    """The explainer's rebuild of the deep branch equals the core: core logit = bias + wide + deep."""
    estimator, encoded = trained(toy_spec, toy_frame, tmp_path, "wide_deep")
    explainer = Explainer(estimator, encoded)
    deep, _ = explainer.deep_terms(explainer.branch.vector(encoded))
    np.testing.assert_allclose(
        explainer.bias + explainer.wide_term(encoded).numpy() + deep.numpy(),
        estimator.logits_encoded(encoded),
        atol=1e-5,
    )
    np.testing.assert_allclose(explainer.contributions(encoded)["deep_term"], deep.numpy(), atol=1e-5)


@pytest.fixture
def toy_history(toy_spec, toy_frame):
    """The toy spec and frame with a two-channel, four-step history sequence."""
    from feature_columns.spec import FeatureSpec
    from tests.conftest import TOY_HISTORY, add_toy_history

    spec = FeatureSpec.from_dict({**toy_spec.to_dict(), "sequences": [TOY_HISTORY]})
    return spec, add_toy_history(toy_frame)


@pytest.mark.parametrize("tower, fusion", [("gru", "sum"), ("tcn", "sum"), ("gru", "gate"), ("tcn", "attention")])
def test_sequence_towers_and_fusions_keep_the_decomposition(toy_history, tmp_path, tower, fusion):
    """With a sequence tower and a gated or attention fusion, the contributions (the sequence as one feature) still
    add up to the logit, and the explainer's rebuild of the branches and gates equals the core."""
    spec, frame = toy_history
    model = {"sequences": "both", "sequence_tower": tower, "sequence_units": 8, "fusion": fusion}
    estimator, arrays, labels = toy_estimator(
        spec,
        frame,
        tmp_path,
        hidden_units=(16, 8),
        model=model,
        learning_rate=3e-2,
        epochs=4,
        early_stopping_patience=0,
    )
    train_toy(estimator, arrays, labels)
    encoded = estimator.encode(arrays)
    explainer = Explainer(estimator, encoded, steps=128)
    out = explainer.contributions(encoded)
    assert "history" in explainer.features
    assert np.abs(out["residual"]).max() < 0.05  # the path integral's Riemann error, shrinking with finer steps:
    coarse = Explainer(estimator, encoded, steps=8).contributions(encoded)["residual"]
    assert np.abs(out["residual"]).mean() < np.abs(coarse).mean()
    deep, gates = (t.numpy() for t in explainer.deep_terms(explainer.branch.vector(encoded)))
    wide = explainer.wide_term(encoded).numpy()
    rebuilt = explainer.bias + gates[:, 0] * wide + gates[:, 1] * deep
    np.testing.assert_allclose(rebuilt, estimator.logits_encoded(encoded), atol=1e-4)
    if fusion == "sum":
        np.testing.assert_array_equal(gates, 1.0)
        assert explainer.gates(encoded) is None
    else:
        assert np.ptp(gates[:, 0]) > 0  # trained, the weights differ between applicants
        np.testing.assert_allclose(explainer.gates(encoded), gates, atol=1e-6)


@pytest.mark.parametrize("tower, fusion", [("gru", "attention"), ("tcn", "gate")])
def test_sequence_models_round_trip_through_a_keras_file(toy_history, tmp_path, tower, fusion):
    """The sequence encoder, both towers and both fusion layers have configs and are registered: `model.save` /
    `keras.models.load_model` give the same serving model."""
    import keras

    from feature_columns.inputs import to_tensors

    spec, frame = toy_history
    model = {"sequences": "both", "sequence_tower": tower, "sequence_units": 4, "fusion": fusion}
    estimator, arrays, _ = toy_estimator(spec, frame, tmp_path / "run", model=model)
    serving = estimator.serving_model()
    serving.save(tmp_path / "serving.keras")
    again = keras.models.load_model(tmp_path / "serving.keras")
    features = to_tensors(arrays)
    np.testing.assert_allclose(
        again(features)["probability"].numpy(), serving(features)["probability"].numpy(), atol=1e-6
    )
