"""Probability calibration fitted on the validation split, carried inside the export.

- `platt`: p' = sigmoid(a · logit(p) + b), two parameters by logistic regression on the
  validation logits (Platt 1999);
- `isotonic`: a monotone step-free map, piecewise linear between the fitted isotonic
  regression's knots (scikit-learn's `IsotonicRegression`, `out_of_bounds="clip"`).

Both are monotone, so AUC, KS and the ranking are unchanged; the decision threshold is
chosen on the calibrated validation scores. A `Calibrator` is plain data (JSON in the
`model_dir`) and applies identically in NumPy (evaluation) and in TensorFlow (the export).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import tensorflow as tf

METHODS = ("none", "platt", "isotonic")


def _logit(p):
    p = np.clip(np.asarray(p, dtype="float64"), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


@dataclasses.dataclass(frozen=True)
class Calibrator:
    method: str = "none"
    slope: float = 1.0  # platt
    intercept: float = 0.0  # platt
    knots_x: tuple = ()  # isotonic: raw probabilities
    knots_y: tuple = ()  # isotonic: calibrated probabilities

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        p = np.asarray(probabilities, dtype="float64")
        if self.method == "platt":
            return 1 / (1 + np.exp(-(self.slope * _logit(p) + self.intercept)))
        if self.method == "isotonic":
            return np.interp(p, self.knots_x, self.knots_y)
        return p

    def apply_tf(self, probabilities: tf.Tensor) -> tf.Tensor:
        """The same map in TensorFlow (float32), for the serving graph."""
        if self.method == "platt":
            p = tf.clip_by_value(probabilities, 1e-7, 1 - 1e-7)
            return tf.sigmoid(self.slope * tf.math.log(p / (1 - p)) + self.intercept)
        if self.method == "isotonic":
            x = tf.constant(self.knots_x, tf.float32)
            y = tf.constant(self.knots_y, tf.float32)
            p = tf.clip_by_value(probabilities, x[0], x[-1])
            i = tf.clip_by_value(tf.searchsorted(x, p, side="right") - 1, 0, len(self.knots_x) - 2)
            x0, x1, y0, y1 = tf.gather(x, i), tf.gather(x, i + 1), tf.gather(y, i), tf.gather(y, i + 1)
            return y0 + (y1 - y0) * tf.math.divide_no_nan(p - x0, x1 - x0)
        return probabilities

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Calibrator:
        data = json.loads(text)
        return cls(**{**data, "knots_x": tuple(data["knots_x"]), "knots_y": tuple(data["knots_y"])})


def fit_calibrator(method: str, labels: np.ndarray, probabilities: np.ndarray) -> Calibrator:
    """Fit on validation labels and raw model probabilities."""
    if method not in METHODS:
        raise ValueError(f"calibration {method!r} is not one of {METHODS}")
    labels = np.asarray(labels).astype(int)
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        fit = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(probabilities)[:, None], labels)
        return Calibrator("platt", slope=float(fit.coef_[0, 0]), intercept=float(fit.intercept_[0]))
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        fit = IsotonicRegression(out_of_bounds="clip", y_min=1e-6, y_max=1 - 1e-6).fit(probabilities, labels)
        x, y = np.asarray(fit.X_thresholds_, dtype="float64"), np.asarray(fit.y_thresholds_, dtype="float64")
        if len(x) < 2:  # a constant fit: keep it a valid two-knot map
            x, y = np.array([0.0, 1.0]), np.repeat(y[:1] if len(y) else [labels.mean()], 2)
        # f32 knots that np.interp and the TF graph both use
        return Calibrator("isotonic", knots_x=tuple(np.float32(x).tolist()), knots_y=tuple(np.float32(y).tolist()))
    return Calibrator()
