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
    """The explainer's deep input/head rebuild equals the core: core logit = wide + deep + bias."""
    estimator, encoded = trained(toy_spec, toy_frame, tmp_path, "deep")
    explainer = Explainer(estimator, encoded)
    np.testing.assert_allclose(
        explainer.deep_logits(encoded) + explainer.bias, estimator.logits_encoded(encoded), atol=1e-5
    )
