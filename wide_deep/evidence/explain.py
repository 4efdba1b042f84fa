"""Reason codes: per-applicant contributions to the logit, by raw feature.

    logit = intercept + Σ_features contribution_f                       (+ a reported IG residual)

- wide branch, exact: a characteristic contributes w[its attribute] - the training-split mean
  of w for that characteristic (numeric wide columns: v · (x - training mean)), and the means
  go into the intercept;
- deep branch: integrated gradients (Sundararajan et al. 2017) of the deep logit along the
  straight line from a baseline to the applicant's deep input (the concatenation of the
  encoded numerics, one-hot indicators and embeddings), `steps` midpoint Riemann steps. The
  baseline is the training-split mean of that input vector ("the average applicant"); the
  deep logit at the baseline goes into the intercept. Completeness: the attributions sum to
  deep(x) - deep(baseline) up to the Riemann error, which is returned as `residual` so the
  decomposition can be checked (a test asserts it is small).

A feature routed to both branches gets the sum of its two parts; a cross is its own feature.
Positive contributions push the default risk up: the top-k positive ones are the reasons.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from feature_columns.fitting import GBDT
from feature_columns.layers import safe_name
from wide_deep.core import tensors
from wide_deep.evidence.scorecard import wide_weights


def _raw_feature(encoded_name: str) -> str:
    for separator in (":", "="):
        if separator in encoded_name:
            return encoded_name.split(separator)[0]
    return encoded_name


class Explainer:
    """Contributions for a trained Estimator; baselines are fitted on the training split's encoded inputs."""

    def __init__(self, estimator, train_encoded: dict[str, tf.Tensor], steps: int = 32):
        self.estimator, self.steps = estimator, steps
        layout, core = estimator.layout, estimator.core
        weights = wide_weights(estimator)
        self.bias = weights["bias"]
        parts, means = [], []
        self.table = tf.constant(weights["table"], tf.float32) if layout.wide_segments else None
        self.columns = layout.column_segments
        if layout.wide_segments:
            ids = train_encoded["wide_ids"].numpy()
            means = [float(weights["table"][ids[:, k]].mean()) for k in range(len(layout.wide_segments))]
            parts += [segment.name for segment in layout.wide_segments[: self.columns]]
        self.segment_means = np.asarray(means, dtype="float32")
        self.tree_shares = None
        if self.columns < len(layout.wide_segments):  # the GBDT: each leaf shared by the features on its path
            trees = estimator.state[GBDT]
            self.tree_base = layout.wide_segments[self.columns].offset
            self.tree_rows = layout.wide_size - self.tree_base
            self.tree_shares = tf.constant(trees.feature_shares(), tf.float32)
            parts += list(trees.columns)
        self.dense_kernel = weights["dense"].astype("float32")
        self.dense_means = (
            train_encoded["wide_dense"].numpy().mean(axis=0) if layout.wide_dense_names else np.zeros(0, "float32")
        )
        parts += [_raw_feature(n) for n in layout.wide_dense_names]
        self.has_deep = layout.has_deep
        if self.has_deep:
            self._embeddings = [
                (name, core.get_layer(f"deep_embedding_{safe_name(name)}")) for name, _, _ in layout.deep_embeddings
            ]
            hidden = [
                layer
                for layer in core.layers
                if layer.name.startswith(("deep_hidden_", "deep_batch_norm_", "deep_relu_"))
            ]
            self._head_layers = hidden + [core.get_layer("deep_logit")]
            deep_parts = [_raw_feature(n) for n in layout.deep_dense_names]
            for name, layer in self._embeddings:
                deep_parts += [name] * layer.output_dim  # the layout's dim, times K for a merged ensemble
            self.baseline = tf.reduce_mean(self.deep_input(train_encoded), axis=0)
            self.baseline_logit = float(self.deep_logit(self.baseline[None, :])[0])
            parts += deep_parts
        self.features = list(dict.fromkeys(parts))
        # parts → raw features: a 0/1 matrix so contributions per part sum into features in one matmul
        self.to_features = tf.constant(
            np.stack([[1.0 if p == f else 0.0 for f in self.features] for p in parts]), tf.float32
        )
        self.intercept = (
            self.bias
            + float(self.segment_means.sum())
            + float(self.dense_kernel @ self.dense_means)
            + (self.baseline_logit if self.has_deep else 0.0)
        )
        self._explain_fn = tf.function(
            lambda piece: (self.contributions_tf(piece), estimator.core(piece, training=False)), reduce_retracing=True
        )

    def deep_input(self, encoded: dict[str, tf.Tensor]) -> tf.Tensor:
        parts = [tf.cast(encoded["deep_dense"], tf.float32)] if "deep_dense" in encoded else []
        parts += [layer(encoded[f"deep_ids_{safe_name(name)}"]) for name, layer in self._embeddings]
        return tf.concat(parts, axis=1)

    def deep_logits(self, encoded: dict[str, tf.Tensor], chunk: int = 65536) -> np.ndarray:
        """The deep branch's logit term for encoded rows (float64), in chunks."""
        return np.concatenate(
            [self.deep_logit(self.deep_input(piece)).numpy() for piece in tensors.chunks(encoded, chunk)]
        ).astype("float64")

    def deep_logit(self, h: tf.Tensor) -> tf.Tensor:
        for layer in self._head_layers:
            h = layer(h, training=False) if "batch_norm" in layer.name else layer(h)
        return tf.squeeze(h, -1)

    def _integrated_gradients(self, x: tf.Tensor) -> tf.Tensor:
        """All `steps` midpoints of the path in one batched pass: [steps · B, D] through the head, one gradient."""
        delta = x - self.baseline[None, :]
        fractions = (tf.range(self.steps, dtype=tf.float32) + 0.5) / self.steps
        points = self.baseline[None, None, :] + fractions[:, None, None] * delta[None, :, :]  # [steps, B, D]
        flat = tf.reshape(points, [-1, tf.shape(x)[1]])
        with tf.GradientTape() as tape:
            tape.watch(flat)
            out = tf.reduce_sum(self.deep_logit(flat))
        gradients = tf.reshape(tape.gradient(out, flat), tf.shape(points))
        return delta * tf.reduce_mean(gradients, axis=0)

    def contributions_tf(self, encoded: dict[str, tf.Tensor]) -> tf.Tensor:
        """[B, F] contributions by `self.features` (traceable: the export's `serving_explain` uses it)."""
        parts = []
        if self.table is not None:
            centred = tf.gather(self.table, encoded["wide_ids"]) - self.segment_means[None, :]
            parts.append(centred[:, : self.columns])
            if self.tree_shares is not None:
                parts.append(
                    self._tree_contributions(encoded["wide_ids"][:, self.columns :], centred[:, self.columns :])
                )
        if "wide_dense" in encoded:
            parts.append(
                (tf.cast(encoded["wide_dense"], tf.float32) - self.dense_means[None, :]) * self.dense_kernel[None, :]
            )
        if self.has_deep:
            parts.append(self._integrated_gradients(self.deep_input(encoded)))
        return tf.concat(parts, axis=1) @ self.to_features

    def _tree_contributions(self, leaf_ids: tf.Tensor, centred: tf.Tensor) -> tf.Tensor:
        """[B, tree features]: each tree's centred output divided among the features on its leaf's path."""
        rows, trees = tf.shape(leaf_ids)[0], tf.shape(leaf_ids)[1]
        row_index = tf.repeat(tf.range(rows, dtype=tf.int64), trees)
        leaf_rows = tf.reshape(leaf_ids - self.tree_base, [-1])
        by_leaf = tf.sparse.reorder(
            tf.SparseTensor(
                tf.stack([row_index, leaf_rows], axis=1),
                tf.reshape(centred, [-1]),
                tf.cast(tf.stack([rows, self.tree_rows]), tf.int64),
            )
        )
        return tf.sparse.sparse_dense_matmul(by_leaf, self.tree_shares)

    def contributions(self, encoded: dict[str, tf.Tensor], chunk: int = 8192) -> dict[str, np.ndarray]:
        """intercept (scalar), contributions [B, F] by `self.features`, the model's logit [B], residual [B]."""
        contributions, logit = [], []
        for piece in tensors.chunks(encoded, chunk):
            c, z = self._explain_fn(piece)
            contributions.append(c.numpy())
            logit.append(z.numpy())
        contributions = np.concatenate(contributions).astype("float64")
        logit = np.concatenate(logit).astype("float64")
        residual = logit - (self.intercept + contributions.sum(axis=1))
        return {"intercept": self.intercept, "contributions": contributions, "logit": logit, "residual": residual}


def reason_codes(features: list[str], contributions: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
    """Per row, up to `k` (feature, contribution) pairs that raised the risk most (positive contributions only)."""
    order = np.argsort(-contributions, axis=1)[:, :k]
    return [[(features[j], float(row[j])) for j in idx if row[j] > 0] for row, idx in zip(contributions, order)]
