"""Reason codes: per-applicant contributions to the logit, by raw feature.

    logit = intercept + Σ_features contribution_f                       (+ a reported IG residual)

- wide branch, exact: a characteristic contributes w[its attribute] - the training-split mean
  of w for that characteristic (numeric wide columns: v · (x - training mean)), and the means
  go into the intercept;
- deep branch: integrated gradients (Sundararajan et al. 2017) of the deep logit along the
  straight line from a baseline to the applicant's deep input (the concatenation of the
  encoded numerics, one-hot indicators, embeddings and sequence steps), `steps` midpoint
  Riemann steps. The baseline is the training-split mean of that input vector ("the average
  applicant"); the deep logit at the baseline goes into the intercept. Completeness: the
  attributions sum to deep(x) - deep(baseline) up to the Riemann error, which is returned as
  `residual` so the decomposition can be checked (a test asserts it is small).

With a fused model (logit = bias + g_w(d)·W(x) + g_d(d)·D(d), the gates g computed from the
deep input d), the integrated gradients are those of F(d) = g_w(d)·W(x) + g_d(d)·D(d) with the
applicant's wide term W(x) held fixed: they sum to F(d) - F(baseline), and F(baseline) =
g_w(baseline)·W(x) + g_d(baseline)·D(baseline) is exact in W, so each wide contribution is
scaled by the baseline's wide gate and the rest goes into the intercept. The gates' effect
on an applicant is thereby credited to the deep features that set them.

A feature routed to both branches gets the sum of its two parts; a cross is its own feature;
a sequence is one feature (all its steps and channels).
Positive contributions push the default risk up: the top-k positive ones are the reasons.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from feature_columns.fitting import GBDT
from wide_deep.core import tensors
from wide_deep.core.model import DeepBranch
from wide_deep.evidence.scorecard import wide_weights

EXPLAIN_ROWS = 2048  # rows per reason-code call: integrated gradients hold steps × rows × deep inputs at once
SEQUENCE_EXPLAIN_ROWS = 1024  # ... and through a sequence tower, its activations at every step of every sequence


def explain_rows(has_sequences: bool) -> int:
    """Rows per call of the reason codes (`Explainer.contributions`, the export's `serving_explain`) that keep the
    memory bounded: 8,192 explained rows through a GRU over 26 steps held about 3 GB more than 1,024 do, and
    without a tower 8,192 rows raised the peak of the SME `make train` from 1.4 to 2.1 GB (2,048 are also faster)."""
    return SEQUENCE_EXPLAIN_ROWS if has_sequences else EXPLAIN_ROWS


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
        self.wide_gate = 1.0
        if self.has_deep:
            self.branch = DeepBranch(layout, estimator.model_config, core)
            names = {layer.name for layer in core.layers}
            self.fusion = core.get_layer("deep_fusion") if "deep_fusion" in names else None
            deep_parts = [_raw_feature(n) for n in layout.deep_dense_names]
            for name, layer in self.branch.embeddings:
                deep_parts += [name] * layer.output_dim  # the layout's dim, times K for a merged ensemble
            for name, steps, width in layout.sequences:
                deep_parts += [name] * (steps * width)
            self.baseline = tf.reduce_mean(self.branch.vector(train_encoded), axis=0)
            baseline_deep, baseline_gates = self.deep_terms(self.baseline[None, :])
            self.baseline_logit = float(baseline_deep[0] * baseline_gates[0, 1])
            self.wide_gate = float(baseline_gates[0, 0])
            parts += deep_parts
        self.features = list(dict.fromkeys(parts))
        # parts → raw features: a 0/1 matrix so contributions per part sum into features in one matmul
        self.to_features = tf.constant(
            np.stack([[1.0 if p == f else 0.0 for f in self.features] for p in parts]), tf.float32
        )
        wide_mean = float(self.segment_means.sum()) + float(self.dense_kernel @ self.dense_means)
        self.intercept = self.bias + self.wide_gate * wide_mean + (self.baseline_logit if self.has_deep else 0.0)
        self._explain_fn = tf.function(
            lambda piece: (self.contributions_tf(piece), estimator.core(piece, training=False)), reduce_retracing=True
        )

    def deep_terms(self, d: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(the deep logit D(d) [B], the branch gates [B, 2]: ones unless the model fuses with a gate)."""
        deep, hidden = self.branch.head(d, training=False)
        gates = self.fusion.gates(hidden) if self.fusion is not None else tf.ones([tf.shape(d)[0], 2])
        return deep, gates

    def wide_term(self, encoded: dict[str, tf.Tensor]) -> tf.Tensor:
        """W(x) [B]: the wide branch's logit term."""
        out = tf.zeros([tf.shape(next(iter(encoded.values())))[0]])
        if self.table is not None:
            out += tf.reduce_sum(tf.gather(self.table, encoded["wide_ids"]), axis=1)
        if "wide_dense" in encoded:
            out += tf.reduce_sum(tf.cast(encoded["wide_dense"], tf.float32) * self.dense_kernel[None, :], axis=1)
        return out

    def gates(self, encoded: dict[str, tf.Tensor], chunk: int = 65536) -> np.ndarray | None:
        """[B, 2]: each applicant's wide and deep weights (None when the branches are summed)."""
        if not self.has_deep or self.fusion is None:
            return None
        return np.concatenate(
            [self.deep_terms(self.branch.vector(piece))[1].numpy() for piece in tensors.chunks(encoded, chunk)]
        )

    def _integrated_gradients(self, x: tf.Tensor, wide: tf.Tensor) -> tf.Tensor:
        """All `steps` midpoints of the path in one batched pass: [steps · B, D] through the head, one gradient
        of F = g_w · W + g_d · D with each row's wide term W fixed."""
        delta = x - self.baseline[None, :]
        fractions = (tf.range(self.steps, dtype=tf.float32) + 0.5) / self.steps
        points = self.baseline[None, None, :] + fractions[:, None, None] * delta[None, :, :]  # [steps, B, D]
        flat = tf.reshape(points, [-1, tf.shape(x)[1]])
        fixed_wide = tf.tile(wide, [self.steps])
        with tf.GradientTape() as tape:
            tape.watch(flat)
            deep, gates = self.deep_terms(flat)
            out = tf.reduce_sum(gates[:, 0] * fixed_wide + gates[:, 1] * deep)
        gradients = tf.reshape(tape.gradient(out, flat), tf.shape(points))
        return delta * tf.reduce_mean(gradients, axis=0)

    def contributions_tf(self, encoded: dict[str, tf.Tensor]) -> tf.Tensor:
        """[B, F] contributions by `self.features` (traceable: the export's `serving_explain` uses it)."""
        parts = []
        if self.table is not None:
            centred = tf.gather(self.table, encoded["wide_ids"]) - self.segment_means[None, :]
            parts.append(self.wide_gate * centred[:, : self.columns])
            if self.tree_shares is not None:
                parts.append(
                    self.wide_gate
                    * self._tree_contributions(encoded["wide_ids"][:, self.columns :], centred[:, self.columns :])
                )
        if "wide_dense" in encoded:
            parts.append(
                self.wide_gate
                * (tf.cast(encoded["wide_dense"], tf.float32) - self.dense_means[None, :])
                * self.dense_kernel[None, :]
            )
        if self.has_deep:
            parts.append(self._integrated_gradients(self.branch.vector(encoded), self.wide_term(encoded)))
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

    def contributions(self, encoded: dict[str, tf.Tensor], chunk: int | None = None) -> dict[str, np.ndarray]:
        """intercept (scalar), contributions [B, F] by `self.features`, the model's logit [B], residual [B], and
        deep_term [B]: the logit less the bias and the wide term (the deep branch's logit, times its gate, plus what
        the gates change of the wide term)."""
        contributions, logit, wide = [], [], []
        chunk = chunk or explain_rows(bool(self.estimator.layout.sequences))
        for piece in tensors.chunks(encoded, chunk):
            c, z = self._explain_fn(piece)
            contributions.append(c.numpy())
            logit.append(z.numpy())
            wide.append(self.wide_term(piece).numpy())
        contributions = np.concatenate(contributions).astype("float64")
        logit = np.concatenate(logit).astype("float64")
        residual = logit - (self.intercept + contributions.sum(axis=1))
        deep_term = logit - self.bias - np.concatenate(wide).astype("float64")
        return {
            "intercept": self.intercept,
            "contributions": contributions,
            "logit": logit,
            "residual": residual,
            "deep_term": deep_term,
        }


def reason_codes(features: list[str], contributions: np.ndarray, k: int = 3) -> list[list[tuple[str, float]]]:
    """Per row, up to `k` (feature, contribution) pairs that raised the risk most (positive contributions only)."""
    order = np.argsort(-contributions, axis=1)[:, :k]
    return [[(features[j], float(row[j])) for j in idx if row[j] > 0] for row, idx in zip(contributions, order)]
