"""Export a SavedModel that takes raw features, as named tensors or as serialized tf.Example.

Signatures (loading needs only TensorFlow):
- `serving_default`: one 1-D tensor per raw feature (tf.string for categoricals, tf.float32
  for numerics, NaN meaning missing);
- `serving_tf_example`: `examples`, a 1-D tensor of serialized `tf.train.Example` protos
  (the TensorFlow Serving convention); an absent feature is missing (empty string / NaN).
Both return `probability` (float32) and `decision` (int64, 1 when probability >= the
validation-chosen threshold).
"""
from __future__ import annotations

import time
from pathlib import Path

import keras
import tensorflow as tf

from feature_columns.columns import CategoricalColumn
from feature_columns.spec import FeatureSpec


def raw_signature(spec: FeatureSpec) -> dict[str, tf.TensorSpec]:
    return {c.name: tf.TensorSpec([None], tf.string if isinstance(c, CategoricalColumn) else tf.float32, name=c.name)
            for c in spec.input_columns}


def example_feature_spec(spec: FeatureSpec) -> dict[str, tf.io.FixedLenFeature]:
    """How `serving_tf_example` parses each raw feature; absent features become missing values."""
    return {c.name: tf.io.FixedLenFeature([], tf.string, default_value="") if isinstance(c, CategoricalColumn)
            else tf.io.FixedLenFeature([], tf.float32, default_value=float("nan")) for c in spec.input_columns}


def export_saved_model(model: keras.Model, spec: FeatureSpec, export_root: str | Path, threshold: float) -> Path:
    """Write `export_root/<unix timestamp>/`, the layout TensorFlow Serving scans for versions."""
    export_root = Path(export_root)
    export_root.mkdir(parents=True, exist_ok=True)
    version = int(time.time())
    while (export_root / str(version)).exists():
        version += 1
    path = export_root / str(version)
    cutoff = tf.constant(threshold, tf.float32)

    def serve(features):
        probability = model(features, training=False)
        return {"probability": probability, "decision": tf.cast(probability >= cutoff, tf.int64)}

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name="serving_default", fn=serve, input_signature=[raw_signature(spec)])
    parse_spec = example_feature_spec(spec)
    archive.add_endpoint(name="serving_tf_example", fn=lambda examples: serve(tf.io.parse_example(examples, parse_spec)),
                         input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    archive.write_out(str(path), verbose=False)
    return path


def latest_export(model_dir: str | Path) -> Path | None:
    root = Path(model_dir) / "export"
    versions = sorted((p for p in root.glob("*") if p.name.isdigit() and (p / "saved_model.pb").exists()),
                      key=lambda p: int(p.name)) if root.exists() else []
    return versions[-1] if versions else None
