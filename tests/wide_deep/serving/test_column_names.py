"""A user's own columns end to end (training, batch scoring, every signature, REST, a .keras file): any name a CSV
can hold, and derived columns computed from raw ones."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tests.conftest import make_toy_frame, quiet

ODD = {"city": "home city/region", "amount": "Loan-Amount (EUR)", "age": "age.years", "tier": "_tier"}
SPEC = textwrap.dedent("""
    name: odd_names
    label: {column: y, positive: [1]}
    id: id
    derived:
      - {name: months open, kind: months_between, start: opened, end: applied}
      - {name: sector.2, kind: prefix, column: sector code, length: 2}
    columns:
      - {name: months open, type: numeric}
      - {name: sector.2, type: categorical}
      - {name: 'home city/region', type: categorical}
      - {name: '_tier', type: categorical}
      - {name: 'Loan-Amount (EUR)', type: numeric, encoding: log1p_zscore}
      - {name: 'age.years', type: bucketized, num_buckets: 4, route: both}
    crosses:
      - {keys: ['home city/region', 'age.years'], min_frequency: 2}
""")


def odd_frame() -> pd.DataFrame:
    """The toy data with odd names, two dates and a code: the sources of the derived columns, not their values."""
    frame = make_toy_frame().rename(columns=ODD)
    rng = np.random.default_rng(1)
    applied = pd.Timestamp("2024-06-01") + pd.to_timedelta(rng.integers(0, 90, len(frame)), unit="D")
    opened = applied - pd.to_timedelta(rng.integers(30, 3000, len(frame)), unit="D")
    frame["applied"], frame["opened"] = applied.strftime("%Y-%m-%d"), opened.strftime("%Y-%m-%d")
    frame["sector code"] = rng.choice([541110, 722511, 441110], len(frame))
    return frame


@pytest.fixture(scope="module")
def odd_run(tmp_path_factory):
    from wide_deep.core.config import ModelConfig, TrainConfig
    from wide_deep.record.config import RunConfig
    from wide_deep.run.pipeline import run_training

    folder = tmp_path_factory.mktemp("odd")
    (folder / "spec.yaml").write_text(SPEC)
    odd_frame().to_csv(folder / "loans.csv", index=False)
    config = RunConfig(
        dataset=str(folder / "loans.csv"),
        spec=str(folder / "spec.yaml"),
        model_dir=str(folder / "m"),
        evidence=True,
        model=ModelConfig(hidden_units=(8,), wide_gbdt=True),
        train=TrainConfig(epochs=2),
    )
    result = run_training(config, log=quiet)
    return folder, result


def test_odd_column_names_train_score_and_serve(odd_run):
    from feature_columns.derived import add_derived
    from wide_deep.record.export_layout import EXAMPLES
    from wide_deep.serving.rest import metadata, parse_predict_request
    from wide_deep.serving.saved_model import LoadedExport
    from wide_deep.serving.scoring import ScoreOptions, Scorer, batch_probabilities, score_file

    folder, result = odd_run
    assert result["dataset"] == "odd_names" and result["auc"] > 0.5
    scores = score_file(folder / "m", folder / "loans.csv", folder / "scores.csv", ScoreOptions(reasons=2), log=quiet)
    assert scores["rows"] == len(pd.read_csv(folder / "loans.csv"))
    batch = batch_probabilities(folder / "scores.csv")

    export = LoadedExport(Scorer(folder / "m", log=quiet).export.path)
    assert set(export.input_specs) == set(ODD.values()) | {"months open", "sector.2"}
    assert export.arguments["home city/region"] == "home_city_region" and export.arguments["_tier"] == "x_tier"
    frame = pd.read_csv(folder / "loans.csv").head(5)
    derived = add_derived(export.spec.derived, frame, "test")
    rows = json.loads(derived[list(export.input_specs)].to_json(orient="records"))
    expected = batch[:5]
    sources = json.loads(frame[[*ODD.values(), "opened", "applied", "sector code"]].to_json(orient="records"))
    from_sources = export.predict_columns(parse_predict_request(json.dumps({"instances": sources}).encode(), export)[0])
    np.testing.assert_allclose(from_sources["probability"], expected, atol=1e-6)  # REST derives them as training did
    columnar = {name: [row[name] for row in sources] for name in sources[0]}
    from_columns = export.predict_columns(parse_predict_request(json.dumps({"inputs": columnar}).encode(), export)[0])
    np.testing.assert_allclose(from_columns["probability"], expected, atol=1e-6)
    by_column = export.predict_columns(parse_predict_request(json.dumps({"instances": rows}).encode(), export)[0])
    np.testing.assert_allclose(by_column["probability"], expected, atol=1e-6)
    renamed = [{export.arguments[k]: v for k, v in row.items()} for row in rows]  # what a TF Serving client sends
    by_argument = export.predict_columns(parse_predict_request(json.dumps({"instances": renamed}).encode(), export)[0])
    np.testing.assert_allclose(by_argument["probability"], expected, atol=1e-6)
    assert set(metadata(export, "m")["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]) == set(
        export.arguments.values()
    )

    examples = []
    for row in rows:
        feature = {}
        for name, value in row.items():
            if value is None:
                continue  # an absent feature is a missing value
            if export.input_specs[name].dtype == tf.string:
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode()]))
            else:
                feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[float(value)]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    from_examples = export.signatures[EXAMPLES](examples=tf.constant(examples))
    np.testing.assert_allclose(from_examples["probability"].numpy(), expected, atol=1e-6)


def test_names_that_collide_inside_tensorflow_are_refused():
    from feature_columns import FeatureSpec, SpecError

    with pytest.raises(SpecError, match="'a-b' and 'a b' differ only in characters"):
        FeatureSpec.from_dict(
            {"label": "y", "columns": [{"name": "a-b", "type": "numeric"}, {"name": "a b", "type": "numeric"}]}
        )


def test_the_serving_model_round_trips_through_a_keras_file(odd_run, tmp_path):
    """Every custom layer has a config and is registered: `model.save` / `keras.models.load_model` give the same
    model (this one has GBDT trees, numeric blocks, crosses and odd column names)."""
    import keras

    from feature_columns.inputs import prepare_frame, to_tensors
    from wide_deep.record.model_dir import ModelDir

    folder, _ = odd_run
    estimator = ModelDir(folder / "m").load_estimator(log=quiet)
    model = estimator.serving_model()
    model.save(tmp_path / "serving.keras")
    again = keras.models.load_model(tmp_path / "serving.keras")
    frame = pd.read_csv(folder / "loans.csv")
    features = to_tensors(prepare_frame(estimator.spec, frame))
    expected, got = model(features), again(features)
    np.testing.assert_allclose(got["probability"].numpy(), expected["probability"].numpy(), atol=1e-6)
    assert again.count_params() == model.count_params()
