"""A trained run as one `.keras` file that any Python with this package loads: raw features → probability,
score (points) and decision, as the SavedModel's signatures return them.

    from wide_deep.serving.keras_file import save_keras, load_model
    save_keras("runs/default", "credit.keras")        # or CreditModel.save_keras(path)
    model = load_model("credit.keras")                # a fresh process: no other import needed
    outputs = model(features)                         # {"probability", "score", "decision", "unseen_categories"}

The file holds the serving model (preprocessing and the trained core) and a `ScoreOutputs` layer carrying the
calibrator, the decision threshold and the scorecard's scaling, all fitted by the run. `load_model` imports
TensorFlow without its CPU-machine start-up notices and registers the project's layers before Keras reads the
file; `keras.models.load_model` works as well once `wide_deep.serving.keras_file` is imported.
"""

from __future__ import annotations

from pathlib import Path

from feature_columns.errors import UserError
from feature_columns.names import raw_names_as_keys
from wide_deep.core.startup import quiet_tensorflow_import
from wide_deep.data.sources import atomic_target

quiet_tensorflow_import()

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from wide_deep.core.calibration import Calibrator  # noqa: E402
from wide_deep.core.model import register_keras_layers  # noqa: E402

register_keras_layers()


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class ScoreOutputs(keras.layers.Layer):
    """The model's probability → {probability (calibrated), score (points, float64), decision (1: decline)}, with
    the export's rules: the calibrator fitted on validation, `offset − factor · log-odds` points of the probability
    clipped to [1e-12, 1 − 1e-12], and decline at `threshold` or above."""

    def __init__(self, calibrator: dict, threshold: float, offset: float, factor: float, **kwargs):
        super().__init__(**kwargs)
        self.calibrator, self.threshold, self.offset, self.factor = dict(calibrator), threshold, offset, factor
        self._calibrator = Calibrator(**{k: tuple(v) if isinstance(v, list) else v for k, v in calibrator.items()})

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "calibrator": self.calibrator,
            "threshold": self.threshold,
            "offset": self.offset,
            "factor": self.factor,
        }

    def call(self, probability):
        calibrated = self._calibrator.apply_tf(tf.cast(probability, tf.float32))
        p = tf.clip_by_value(tf.cast(calibrated, tf.float64), 1e-12, 1 - 1e-12)
        return {
            "probability": calibrated,
            "score": self.offset - self.factor * (tf.math.log(p) - tf.math.log1p(-p)),
            "decision": tf.cast(calibrated >= self.threshold, tf.int64),
        }


def keras_model(model_dir: str | Path, log=print) -> keras.Model:
    """The run's serving model with its scores and decisions, as one Keras model."""
    import dataclasses

    from wide_deep.evidence.scorecard import Scaling
    from wide_deep.record.model_dir import ModelDir

    run = ModelDir(model_dir)
    config, metrics = run.load_config(), run.read_metrics()
    serving = run.load_estimator(log=log).serving_model()
    scaling = Scaling(*config.scorecard)
    outputs = dict(serving.output)  # the named outputs (`outputs` is their flat list)
    scored = ScoreOutputs(
        dataclasses.asdict(run.load_calibrator()),
        float(metrics["threshold"]),
        float(scaling.offset),
        float(scaling.factor),
        name="score_outputs",
    )(outputs["probability"])
    with raw_names_as_keys():
        return keras.Model(serving.inputs, {**outputs, **scored}, name="wide_deep_credit")


def save_keras(model_dir: str | Path, path: str | Path, log=print) -> Path:
    """Write the run's `.keras` file at `path`, whole or not at all (a temporary name, then a rename)."""
    path = Path(path)
    if path.suffix != ".keras":
        raise UserError(f"{path}: a Keras model file's name ends in .keras")
    if path.resolve().is_relative_to(Path(model_dir).resolve()):
        raise UserError(f"{path} is inside the run folder {model_dir}; write the .keras file elsewhere")
    model = keras_model(model_dir, log)
    with atomic_target(path, suffix=".keras") as partial:
        model.save(partial)
    return path


def load_model(path: str | Path) -> keras.Model:
    """A `.keras` file written by `save_keras` (or any model of this project's layers), in any Python session."""
    if not Path(path).is_file():
        raise UserError(f"{path}: no such .keras file")
    with raw_names_as_keys():
        return keras.models.load_model(path)
