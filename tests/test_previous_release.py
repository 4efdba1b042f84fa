"""A model written by the previous release still loads and scores the same (tests/fixtures/previous_release).

The fixture has every column kind and GBDT trees; its export, `.keras` file, fitted state and spec were written
by the commit before column kinds moved into one module each. Registered layer names, the fitted-state JSON and
the spec format must not change under such a model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import quiet

FIXTURE = Path(__file__).parent / "fixtures" / "previous_release"


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    return pd.read_csv(FIXTURE / "rows.csv")


def test_the_fitted_state_reads_into_typed_entries_and_writes_back_unchanged():
    from feature_columns.fitting import state_from_json, state_to_json

    text = (FIXTURE / "preprocessing.json").read_text()
    state = state_from_json(text, "fixture")
    assert state_to_json(state) == text
    assert {type(entry).__name__ for entry in state.values()} == {
        "Vocabulary",
        "HashBuckets",
        "NumericStats",
        "Buckets",
        "SequenceStats",
        "Trees",
    }


def test_the_specs_read_and_write_back_unchanged():
    from feature_columns.spec import FeatureSpec, ModelSpec

    dataset_spec = FIXTURE / "spec.yaml"
    model_spec = next((FIXTURE / "export").glob("*/assets.extra/spec.yaml"))
    assert FeatureSpec.from_yaml(dataset_spec).to_yaml() == dataset_spec.read_text()
    assert ModelSpec.from_yaml(model_spec).to_yaml() == model_spec.read_text()


def test_its_export_scores_the_same_with_the_same_reasons(rows, tmp_path):
    from wide_deep.serving.scoring import Scorer

    shutil.copytree(FIXTURE / "export", tmp_path / "run" / "export")
    scored = Scorer(tmp_path / "run", log=quiet).score_table(rows, reasons=2)
    expected = pd.read_csv(FIXTURE / "scores.csv", keep_default_na=False)
    np.testing.assert_allclose(scored["probability"], expected["probability"], atol=1e-6)
    np.testing.assert_allclose(scored["score_exact"], expected["score"], atol=1e-3)
    # the previous release wrote 1 for decline; this one writes the word
    assert scored["decision"].tolist() == ["decline" if d == 1 else "approve" for d in expected["decision"]]
    assert scored["reason_1"].fillna("").tolist() == expected["reason_1"].tolist()
    assert scored["reason_1_code"].fillna("").tolist() == expected["reason_1_code"].tolist()


def test_its_keras_file_loads_and_gives_the_same_probabilities(rows):
    import keras

    from feature_columns.inputs import prepare_frame, to_tensors
    from feature_columns.spec import ModelSpec
    from wide_deep.core.model import register_keras_layers

    register_keras_layers()
    model = keras.models.load_model(FIXTURE / "serving.keras")
    spec = ModelSpec.from_yaml(next((FIXTURE / "export").glob("*/assets.extra/spec.yaml")))
    probability = model(to_tensors(prepare_frame(spec, rows)))["probability"].numpy()
    np.testing.assert_allclose(probability, np.load(FIXTURE / "keras_probability.npy"), atol=1e-6)
