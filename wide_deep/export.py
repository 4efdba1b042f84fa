"""Export a SavedModel that takes raw features, as named tensors or as serialized tf.Example.

Signatures (loading needs only TensorFlow):
- `serving_default`: one 1-D tensor per raw feature (tf.string for categoricals, tf.float32
  for numerics, NaN meaning missing);
- `serving_tf_example`: `examples`, a 1-D tensor of serialized `tf.train.Example` protos
  (the TensorFlow Serving convention); an absent feature is missing (empty string / NaN).
Both return `probability` (float32), `decision` (int64, 1 when probability >= the
validation-chosen threshold) and `unseen_categories` (string: the comma-separated names of
categorical features whose value is not in the training vocabulary, scored through the
out-of-vocabulary bucket; empty when there are none).

A third signature, `serving_packed`, takes the same features as two matrices (`categorical`
string [B, C] and `numeric` float32 [B, N], column order in `assets.extra/serving_packed_columns.json`):
two input tensors instead of one per feature, which halves single-row latency in Python.

Each version directory also carries `assets.extra/spec.yaml` and `assets.extra/preprocessing.json`
(the TensorFlow Serving place for sidecar files), so a version is self-describing. A version
is written under a temporary name and renamed into place, so a server polling the export
directory never sees a half-written model.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import keras
import tensorflow as tf

from feature_columns.columns import CategoricalColumn
from feature_columns.fitting import MISSING_CATEGORY, save_state
from feature_columns.layers import raw_inputs
from feature_columns.spec import FeatureSpec

SIDECAR_DIR = "assets.extra"
PACKED_COLUMNS_FILE = "serving_packed_columns.json"  # column order of the `serving_packed` signature


def raw_signature(spec: FeatureSpec) -> dict[str, tf.TensorSpec]:
    return {c.name: tf.TensorSpec([None], tf.string if isinstance(c, CategoricalColumn) else tf.float32, name=c.name)
            for c in spec.input_columns}


def example_feature_spec(spec: FeatureSpec) -> dict[str, tf.io.FixedLenFeature]:
    """How `serving_tf_example` parses each raw feature; absent features become missing values."""
    return {c.name: tf.io.FixedLenFeature([], tf.string, default_value="") if isinstance(c, CategoricalColumn)
            else tf.io.FixedLenFeature([], tf.float32, default_value=float("nan")) for c in spec.input_columns}


class UnseenCategories(keras.layers.Layer):
    """Per row, the comma-joined names of vocabulary columns whose (non-missing) value is out of vocabulary."""

    def __init__(self, vocabularies: dict[str, list[str]], **kwargs):
        super().__init__(**kwargs)
        self.names = list(vocabularies)
        self.lookups = [keras.layers.StringLookup(vocabulary=list(v), num_oov_indices=1, mask_token=None,
                                                  output_mode="int") for v in vocabularies.values()]

    def call(self, features):
        if not self.names:
            return tf.fill(tf.shape(next(iter(features.values())))[:1], "")
        columns = []
        for name, lookup in zip(self.names, self.lookups):
            value = features[name]
            unseen = tf.logical_and(tf.equal(lookup(value), 0), tf.not_equal(value, MISSING_CATEGORY))
            columns.append(tf.where(unseen, tf.constant(name + ","), tf.constant("")))
        joined = tf.strings.reduce_join(tf.stack(columns, axis=1), axis=1)
        return tf.strings.regex_replace(joined, ",$", "")


def unseen_category_detector(spec: FeatureSpec, state: dict) -> keras.Model:
    inputs = raw_inputs(spec)
    vocabularies = {c.name: state[c.name]["vocabulary"] for c in spec.input_columns
                    if isinstance(c, CategoricalColumn) and "vocabulary" in state[c.name]}
    return keras.Model(inputs, UnseenCategories(vocabularies, name="unseen_categories")(inputs), name="unseen_detector")


def export_saved_model(model: keras.Model, spec: FeatureSpec, state: dict, export_root: str | Path,
                       threshold: float) -> Path:
    """Write `export_root/<unix timestamp>/`, the layout TensorFlow Serving scans for versions."""
    export_root = Path(export_root)
    export_root.mkdir(parents=True, exist_ok=True)
    version = max([int(time.time())] + [int(p.name) + 1 for p in export_root.iterdir() if p.name.isdigit()])
    path = export_root / str(version)
    staging = export_root / f".staging-{version}-{os.getpid()}"
    cutoff = tf.constant(threshold, tf.float32)
    detector = unseen_category_detector(spec, state)

    def serve(features):
        probability = model(features, training=False)
        return {"probability": probability, "decision": tf.cast(probability >= cutoff, tf.int64),
                "unseen_categories": detector(features)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.track(detector)
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=[raw_signature(spec)])
    parse_spec = example_feature_spec(spec)
    archive.add_endpoint(name="serving_tf_example", fn=lambda examples: serve(tf.io.parse_example(examples, parse_spec)),
                         input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    categorical = [c.name for c in spec.input_columns if isinstance(c, CategoricalColumn)]
    numeric = [c.name for c in spec.input_columns if not isinstance(c, CategoricalColumn)]

    def serve_packed(categorical_values, numeric_values):
        features = {name: categorical_values[:, i] for i, name in enumerate(categorical)}
        features.update({name: numeric_values[:, i] for i, name in enumerate(numeric)})
        return serve(features)

    archive.add_endpoint(name="serving_packed", fn=serve_packed,
                         input_signature=[tf.TensorSpec([None, len(categorical)], tf.string, name="categorical"),
                                          tf.TensorSpec([None, len(numeric)], tf.float32, name="numeric")])
    shutil.rmtree(staging, ignore_errors=True)
    archive.write_out(str(staging), verbose=False)
    (staging / SIDECAR_DIR).mkdir(exist_ok=True)
    spec.to_yaml(staging / SIDECAR_DIR / "spec.yaml")
    save_state(state, staging / SIDECAR_DIR / "preprocessing.json")
    (staging / SIDECAR_DIR / PACKED_COLUMNS_FILE).write_text(json.dumps({"categorical": categorical, "numeric": numeric}))
    os.rename(staging, path)
    return path


def export_versions(model_dir_or_export_root: str | Path) -> list[Path]:
    """Complete version directories, oldest first (accepts a model_dir or its export/ directory)."""
    root = Path(model_dir_or_export_root)
    if (root / "export").is_dir():
        root = root / "export"
    if not root.is_dir():
        return []
    return sorted((p for p in root.iterdir() if p.name.isdigit() and (p / "saved_model.pb").exists()),
                  key=lambda p: int(p.name))


def latest_export(model_dir: str | Path) -> Path | None:
    versions = export_versions(Path(model_dir) / "export")
    return versions[-1] if versions else None
