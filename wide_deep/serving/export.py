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

`serving_explain` takes the raw features and adds reason codes (`wide_deep.explain`):
`contributions` [B, F] to the logit by feature (order in `assets.extra/serving_explain.json`,
with the intercept), the top `reason_features` / `reason_contributions` [B, k], `logit` and
the integrated-gradients `residual`. It is slower (it differentiates the deep branch).

A fourth signature, `serving_packed`, takes the same features as two matrices (`categorical`
string [B, C] and `numeric` float32 [B, N], column order in `assets.extra/serving_packed_columns.json`):
two input tensors instead of one per feature, which halves single-row latency in Python.

Each version directory also carries `assets.extra/spec.yaml`, `assets.extra/preprocessing.json` and
TensorFlow Serving's warm-up requests (`wide_deep.serving.warmup`) in TensorFlow Serving's place for sidecar
files (`wide_deep.serving.saved_model.VersionLayout` names them), so a version is self-describing. A version
is written under a temporary name and renamed into place, so a server polling the export directory never sees
a half-written model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from feature_columns.fitting import FittedState, state_to_json
from feature_columns.layers import UNSEEN_OUTPUT
from feature_columns.names import argument_name
from feature_columns.spec import ModelSpec
from wide_deep.core.calibration import Calibrator
from wide_deep.evidence.scorecard import Scaling
from wide_deep.record.export_layout import EXAMPLES, EXPLAIN, PACKED, PREDICT, VersionLayout
from wide_deep.serving.reasons import ReasonCodes
from wide_deep.serving.warmup import write_warmup_requests


def raw_signature(spec: ModelSpec) -> dict[str, tf.TensorSpec]:
    return {
        c.name: tf.TensorSpec([None, *c.input_shape], c.raw_dtype, name=argument_name(c.name))
        for c in spec.input_columns
    }


def example_feature_spec(spec: ModelSpec) -> dict[str, tf.io.FixedLenFeature]:
    """How `serving_tf_example` parses each raw feature; absent features become missing values. A sequence
    is one float list of steps × channels values, step by step (oldest first), as the raw signature's
    [steps, channels] tensor flattened."""
    out = {}
    for c in spec.input_columns:
        if c.raw_dtype == "string":
            out[c.name] = tf.io.FixedLenFeature([], tf.string, default_value="")
        else:
            shape = list(c.input_shape)
            out[c.name] = tf.io.FixedLenFeature(shape, tf.float32, default_value=np.full(shape, np.nan, "float32"))
    return out


def export_saved_model(
    model: keras.Model,
    spec: ModelSpec,
    state: FittedState,
    export_root: str | Path,
    threshold: float,
    calibrator: Calibrator = Calibrator(),
    explainer=None,
    reasons: int = 3,
    fingerprint: str | None = None,
    scaling: Scaling = Scaling(),
    ignored_columns: tuple[str, ...] = (),
) -> Path:
    """Write `export_root/<unix timestamp>/`, the layout TensorFlow Serving scans for versions.

    `model` is `Estimator.serving_model()`: raw features → {"probability", "unseen_categories"};
    `calibrator` (fitted on validation) maps its probability, and the threshold applies after it.
    Every signature also returns `score`: the probability in scorecard points (`scaling`'s PDO rule).
    `ignored_columns` are columns of the dataset's spec the model does not read (protected attributes,
    the label): REST accepts and ignores them (`assets.extra/model.json`).
    """
    export_root = Path(export_root)
    export_root.mkdir(parents=True, exist_ok=True)
    version = max([int(time.time())] + [int(p.name) + 1 for p in export_root.iterdir() if p.name.isdigit()])
    path = export_root / str(version)
    staging = export_root / f".staging-{version}-{os.getpid()}"
    cutoff = tf.constant(threshold, tf.float32)

    def decided(probability, outputs) -> dict:
        """The outputs every signature returns: probability, score (points), decision, unseen_categories ("" when
        not tracked)."""
        unseen = outputs.get(UNSEEN_OUTPUT, tf.fill(tf.shape(probability), ""))
        p = tf.clip_by_value(tf.cast(probability, tf.float64), 1e-12, 1 - 1e-12)
        score = scaling.offset - scaling.factor * (tf.math.log(p) - tf.math.log1p(-p))
        return {
            "probability": probability,
            "score": score,
            "decision": tf.cast(probability >= cutoff, tf.int64),
            UNSEEN_OUTPUT: unseen,
        }

    def serve(features):
        outputs = model(features, training=False)
        return decided(calibrator.apply_tf(outputs["probability"]), outputs)

    # A plain tf.Module saved by tf.saved_model.save: the models as attributes (their variables and
    # lookup tables are tracked through them) and one traced function per signature. Keras'
    # ExportArchive writes the same SavedModel but spends most of its time searching the graphs
    # for resources to track.
    module = tf.Module()
    module.model = model
    signatures = {PREDICT: tf.function(serve, input_signature=[raw_signature(spec)])}
    parse_spec = example_feature_spec(spec)
    signatures[EXAMPLES] = tf.function(
        lambda examples: serve(tf.io.parse_example(examples, parse_spec)),
        input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
    )
    categorical = [c.name for c in spec.input_columns if c.raw_dtype == "string"]
    numeric = [c.name for c in spec.input_columns if c.raw_dtype != "string"]

    def serve_packed(categorical_values, numeric_values):
        features = {name: categorical_values[:, i] for i, name in enumerate(categorical)}
        features.update({name: numeric_values[:, i] for i, name in enumerate(numeric)})
        return serve(features)

    if not spec.sequences:  # a scalar per column: a sequence input does not pack into the numeric matrix
        signatures[PACKED] = tf.function(
            serve_packed,
            input_signature=[
                tf.TensorSpec([None, len(categorical)], tf.string, name="categorical"),
                tf.TensorSpec([None, len(numeric)], tf.float32, name="numeric"),
            ],
        )
    if explainer is not None:
        names = tf.constant(explainer.features)
        k = min(reasons, len(explainer.features))
        module.explain_preprocessor = explainer.estimator.preprocessor
        module.explain_core = explainer.estimator.core

        def explain(features):
            encoded = explainer.estimator.preprocessor(features)
            logit = explainer.estimator.core(encoded, training=False)
            contributions = explainer.contributions_tf(encoded)
            probability = calibrator.apply_tf(tf.sigmoid(logit))
            top_values, top_index = tf.math.top_k(contributions, k)
            return {
                **decided(probability, encoded),
                "logit": logit,
                "contributions": contributions,
                "reason_features": tf.gather(names, top_index),
                "reason_contributions": top_values,
                "residual": logit - explainer.intercept - tf.reduce_sum(contributions, axis=1),
            }

        signatures[EXPLAIN] = tf.function(explain, input_signature=[raw_signature(spec)])
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        layout = VersionLayout(staging)
        layout.sidecar.mkdir(exist_ok=True)
        spec.to_yaml(layout.spec)
        layout.preprocessing.write_text(state_to_json(state))
        if PACKED in signatures:
            layout.packed_columns.write_text(json.dumps({"categorical": categorical, "numeric": numeric}))
        layout.model.write_text(
            json.dumps(
                {
                    "fingerprint": fingerprint,
                    "threshold": threshold,
                    "calibration": calibrator.method,
                    "scorecard": dataclasses.asdict(scaling),
                    "ignored_columns": list(ignored_columns),
                }
            )
        )
        write_warmup_requests(layout.warmup, signatures)
        if explainer is not None:
            ReasonCodes.default(explainer.features).write(layout.reason_codes)
            layout.explain.write_text(
                json.dumps(
                    {
                        "contribution_features": explainer.features,
                        "intercept": explainer.intercept,
                        "baseline": "training-split mean of the deep input vector; "
                        "wide parts centred on training means",
                        "integrated_gradients_steps": explainer.steps,
                    }
                )
            )
        os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # a failed export leaves no staging folder behind
    return path
