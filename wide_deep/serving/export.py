"""Export a SavedModel that takes raw features, as named tensors or as serialized tf.Example.

Signatures (loading needs only TensorFlow):
- `serving_default`: one tensor per raw feature, of its kind's dtype and shape (tf.string for text columns,
  tf.float32 otherwise, NaN meaning missing; [B, steps, channels] for a sequence);
- `serving_tf_example`: `examples`, a 1-D tensor of serialized `tf.train.Example` protos
  (the TensorFlow Serving convention); an absent feature is missing (empty string / NaN).
Both return `probability` (float32), `score` (points, float64), `decision` (int64, 1 when probability >= the
validation-chosen threshold) and `unseen_categories` (string: the comma-separated names of
categorical features whose value is not in the training vocabulary, scored through the
out-of-vocabulary bucket; empty when there are none).

`serving_explain` takes the raw features and adds reason codes (`wide_deep.evidence.explain`):
`contributions` [B, F] to the logit by feature (order in `assets.extra/serving_explain.json`,
with the intercept), the top `reason_features` / `reason_contributions` [B, k], `logit` and
the integrated-gradients `residual`. It is slower (it differentiates the deep branch).

A fourth signature, `serving_packed`, takes the same features as two matrices (`categorical`
string [B, C] and `numeric` float32 [B, N], column order in `assets.extra/serving_packed_columns.json`):
two input tensors instead of one per feature, which halves single-row latency in Python.

Each version directory also carries `assets.extra/spec.yaml`, `assets.extra/preprocessing.json` and
TensorFlow Serving's warm-up requests (`wide_deep.serving.warmup`) in TensorFlow Serving's place for sidecar
files (`wide_deep.record.export_layout.VersionLayout` names them), so a version is self-describing. A version
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


@dataclasses.dataclass(frozen=True)
class ExportedModel:
    """What an export version holds: the serving model and everything that travels beside it.

    `model` is `Estimator.serving_model()`: raw features → {"probability", "unseen_categories"};
    `calibrator` (fitted on validation) maps its probability, and the `threshold` applies after it.
    Every signature also returns `score`: the probability in scorecard points (`scaling`'s PDO rule).
    With an `explainer` (the evidence's), the export has `serving_explain` with `reasons` reasons.
    `ignored_columns` are columns of the dataset's spec the model does not read (protected attributes,
    the label): REST accepts and ignores them (`assets.extra/model.json`).
    """

    model: keras.Model
    spec: ModelSpec
    state: FittedState
    threshold: float
    calibrator: Calibrator = Calibrator()
    explainer: object = None
    reasons: int = 3
    fingerprint: str | None = None
    scaling: Scaling = Scaling()
    ignored_columns: tuple[str, ...] = ()
    score_bands: tuple[float, ...] = ()  # the strategy table's inner band edges in points (`make predict`'s bands)


def export_saved_model(exported: ExportedModel, export_root: str | Path) -> Path:
    """Write `export_root/<unix timestamp>/`, the layout TensorFlow Serving scans for versions: under a temporary
    name first, renamed into place when complete (a failed export leaves no staging folder behind)."""
    export_root = Path(export_root)
    export_root.mkdir(parents=True, exist_ok=True)
    version = max([int(time.time())] + [int(p.name) + 1 for p in export_root.iterdir() if p.name.isdigit()])
    path = export_root / str(version)
    staging = export_root / f".staging-{version}-{os.getpid()}"
    # A plain tf.Module saved by tf.saved_model.save: the models as attributes (their variables and
    # lookup tables are tracked through them) and one traced function per signature. Keras'
    # ExportArchive writes the same SavedModel but spends most of its time searching the graphs
    # for resources to track.
    module = tf.Module()
    module.model = exported.model
    signatures = _signatures(exported, module)
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        _write_sidecar(VersionLayout(staging), exported, signatures)
        os.rename(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path


def _outputs(exported: ExportedModel, probability, outputs) -> dict:
    """What every signature returns: probability, score (points), decision, unseen_categories ("" when not
    tracked)."""
    scaling = exported.scaling
    unseen = outputs.get(UNSEEN_OUTPUT, tf.fill(tf.shape(probability), ""))
    p = tf.clip_by_value(tf.cast(probability, tf.float64), 1e-12, 1 - 1e-12)
    score = scaling.offset - scaling.factor * (tf.math.log(p) - tf.math.log1p(-p))
    return {
        "probability": probability,
        "score": score,
        "decision": tf.cast(probability >= tf.constant(exported.threshold, tf.float32), tf.int64),
        UNSEEN_OUTPUT: unseen,
    }


def _signatures(exported: ExportedModel, module: tf.Module) -> dict:
    """The export's signatures (see the module docstring), traced once each."""
    spec, calibrator = exported.spec, exported.calibrator

    def serve(features):
        outputs = exported.model(features, training=False)
        return _outputs(exported, calibrator.apply_tf(outputs["probability"]), outputs)

    signatures = {PREDICT: tf.function(serve, input_signature=[raw_signature(spec)])}
    parse_spec = example_feature_spec(spec)
    signatures[EXAMPLES] = tf.function(
        lambda examples: serve(tf.io.parse_example(examples, parse_spec)),
        input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
    )
    if not spec.sequences:  # a scalar per column: a sequence input does not pack into the numeric matrix
        signatures[PACKED] = _packed_signature(spec, serve)
    if exported.explainer is not None:
        signatures[EXPLAIN] = _explain_signature(exported, module)
    return signatures


def packed_columns(spec: ModelSpec) -> dict[str, list[str]]:
    """The column order of `serving_packed`'s two matrices: text columns, then the others."""
    return {
        "categorical": [c.name for c in spec.input_columns if c.raw_dtype == "string"],
        "numeric": [c.name for c in spec.input_columns if c.raw_dtype != "string"],
    }


def _packed_signature(spec: ModelSpec, serve):
    columns = packed_columns(spec)

    def serve_packed(categorical_values, numeric_values):
        features = {name: categorical_values[:, i] for i, name in enumerate(columns["categorical"])}
        features.update({name: numeric_values[:, i] for i, name in enumerate(columns["numeric"])})
        return serve(features)

    return tf.function(
        serve_packed,
        input_signature=[
            tf.TensorSpec([None, len(columns["categorical"])], tf.string, name="categorical"),
            tf.TensorSpec([None, len(columns["numeric"])], tf.float32, name="numeric"),
        ],
    )


def _explain_signature(exported: ExportedModel, module: tf.Module):
    explainer, calibrator = exported.explainer, exported.calibrator
    names = tf.constant(explainer.features)
    k = min(exported.reasons, len(explainer.features))
    module.explain_preprocessor = explainer.estimator.preprocessor
    module.explain_core = explainer.estimator.core

    def explain(features):
        encoded = explainer.estimator.preprocessor(features)
        logit = explainer.estimator.core(encoded, training=False)
        contributions = explainer.contributions_tf(encoded)
        probability = calibrator.apply_tf(tf.sigmoid(logit))
        top_values, top_index = tf.math.top_k(contributions, k)
        return {
            **_outputs(exported, probability, encoded),
            "logit": logit,
            "contributions": contributions,
            "reason_features": tf.gather(names, top_index),
            "reason_contributions": top_values,
            "residual": logit - explainer.intercept - tf.reduce_sum(contributions, axis=1),
        }

    return tf.function(explain, input_signature=[raw_signature(exported.spec)])


def _write_sidecar(layout: VersionLayout, exported: ExportedModel, signatures: dict) -> None:
    """The files that travel with a version in `assets.extra/` (`wide_deep.record.export_layout` names them)."""
    layout.sidecar.mkdir(exist_ok=True)
    exported.spec.to_yaml(layout.spec)
    layout.preprocessing.write_text(state_to_json(exported.state))
    if PACKED in signatures:
        layout.packed_columns.write_text(json.dumps(packed_columns(exported.spec)))
    layout.model.write_text(
        json.dumps(
            {
                "fingerprint": exported.fingerprint,
                "threshold": exported.threshold,
                "calibration": exported.calibrator.method,
                "scorecard": dataclasses.asdict(exported.scaling),
                "ignored_columns": list(exported.ignored_columns),
                "score_bands": [float(edge) for edge in exported.score_bands],
            }
        )
    )
    write_warmup_requests(layout.warmup, signatures)
    explainer = exported.explainer
    if explainer is not None:
        ReasonCodes.default(explainer.features).write(layout.reason_codes)
        layout.explain.write_text(
            json.dumps(
                {
                    "contribution_features": explainer.features,
                    "intercept": explainer.intercept,
                    "baseline": "training-split mean of the deep input vector; wide parts centred on training means",
                    "integrated_gradients_steps": explainer.steps,
                }
            )
        )
