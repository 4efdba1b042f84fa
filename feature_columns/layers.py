"""The Keras building blocks the column kinds compile into (`feature_columns.kinds`, through
`feature_columns.preprocessor`): encoders of numbers and sequences, bucketizing, cross joins, the wide table's
offsets, one-hot vectors and the unseen-category report. Each is registered under the package name
`wide_deep_credit`, so `.keras` files that hold them load (the names have not changed since the first release).

The blocks take plain values (a fitted entry's JSON, boundaries), not the kinds' types: the kinds build with
them, not the other way round.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from feature_columns.values import CROSS_SEPARATOR, MISSING_CATEGORY

UNSEEN_OUTPUT = "unseen_categories"


def signed_log1p(x):
    """sign(x) · log(1 + |x|) in the graph (`feature_columns.values.signed_log1p`, with which statistics are fitted)."""
    return tf.sign(x) * tf.math.log1p(tf.abs(x))


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class NumericEncoder(keras.layers.Layer):
    """Impute the training median, encode, and append a missing indicator: [B] → [B, width].

    `stats` is a numeric column's fitted statistics as JSON (`NumericStats.to_json`: median, mean, std,
    missing_rate and, for the quantile and ple encodings, edges)."""

    def __init__(self, encoding: str, stats: dict, **kwargs):
        super().__init__(**kwargs)
        self.encoding = encoding
        self.stats = dict(stats)
        self.with_indicator = self.has_indicator(stats)
        edges = np.asarray(stats.get("edges") or [0.0, 1.0], dtype="float32")
        self._lo = tf.constant(edges[:-1])
        self._width = tf.constant(edges[1:] - edges[:-1])

    @staticmethod
    def has_indicator(stats: dict) -> bool:
        """An indicator only where the training split had missing values (elsewhere it would be constant 0)."""
        return stats.get("missing_rate", 0.0) > 0

    @property
    def output_width(self) -> int:
        base = len(self.stats["edges"]) - 1 if self.encoding == "ple" else 1
        return base + int(self.with_indicator)

    def feature_names(self, column: str) -> list[str]:
        if self.encoding == "ple":
            names = [f"{column}:ple{i}" for i in range(len(self.stats["edges"]) - 1)]
        else:
            names = [f"{column}:{self.encoding}"]
        return names + ([f"{column}:missing"] if self.with_indicator else [])

    def get_config(self) -> dict:
        return {**super().get_config(), "encoding": self.encoding, "stats": self.stats}

    def call(self, x):
        x = tf.cast(x, tf.float32)
        missing = tf.math.is_nan(x)
        x = tf.where(missing, tf.constant(self.stats["median"], tf.float32), x)
        if self.encoding in ("ple", "quantile"):
            ple = tf.clip_by_value((x[:, None] - self._lo) / self._width, 0.0, 1.0)
            encoded = ple if self.encoding == "ple" else tf.reduce_mean(ple, axis=1, keepdims=True)
        else:
            if self.encoding == "log1p_zscore":
                x = signed_log1p(x)
            encoded = ((x - self.stats["mean"]) / self.stats["std"])[:, None]
        if self.with_indicator:
            encoded = tf.concat([encoded, tf.cast(missing, tf.float32)[:, None]], axis=1)
        return encoded


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class NumericBlock(keras.layers.Layer):
    """Several single-output numeric encoders (quantile, zscore, log1p_zscore) as one vectorised layer.

    The same values as one `NumericEncoder` per column, in the same order ([encoding, missing
    indicator] per column), in a handful of ops instead of about ten per column: the serving
    graph's per-op overhead dominates single-row latency. The quantile encoding is computed
    as (bin index + position in the bin) / bins, which equals the mean of the column's PLE
    vector because the fitted edges are strictly increasing.
    """

    def __init__(self, columns: list[tuple[str, dict]], **kwargs):
        """`columns`: (encoding, fitted stats as JSON) per column, in order."""
        super().__init__(**kwargs)
        self.encoders = [(encoding, stats, NumericEncoder.has_indicator(stats)) for encoding, stats in columns]
        k = len(columns)
        longest = max([len(st.get("edges") or ()) for _, st, _ in self.encoders] + [2])
        edges = np.full((k, longest), np.inf, dtype="float32")  # padded with +inf: rows stay sorted
        bins = np.ones(k, dtype="float32")
        for j, (encoding, stats, _) in enumerate(self.encoders):
            if encoding == "quantile":
                e = np.asarray(stats["edges"], dtype="float32")
                edges[j, : len(e)] = e
                bins[j] = len(e) - 1
            else:
                edges[j, :2] = [0.0, 1.0]
        self._edges = tf.constant(edges)
        finite = np.isfinite(edges[:, 1:]) & np.isfinite(edges[:, :-1])
        lo = np.where(np.isfinite(edges[:, :-1]), edges[:, :-1], 0.0)
        self._lo = tf.constant(lo)
        self._width = tf.constant(np.where(finite, np.where(finite, edges[:, 1:], 1.0) - lo, 1.0))  # padding: width 1
        self._bins = tf.constant(bins)
        self._last_bin = tf.constant(bins.astype("int64") - 1)
        self._median = tf.constant([st["median"] for _, st, _ in self.encoders], tf.float32)
        self._mean = tf.constant([st["mean"] for _, st, _ in self.encoders], tf.float32)
        self._std = tf.constant([st["std"] for _, st, _ in self.encoders], tf.float32)
        self._is_quantile = tf.constant([enc == "quantile" for enc, _, _ in self.encoders])
        self._is_log = tf.constant([enc == "log1p_zscore" for enc, _, _ in self.encoders])
        indicator_columns = [j for j, (_, _, ind) in enumerate(self.encoders) if ind]
        self._indicator_columns = tf.constant(indicator_columns, tf.int32)
        order, next_indicator = [], k
        for j, (_, _, ind) in enumerate(self.encoders):
            order.append(j)
            if ind:
                order.append(next_indicator)
                next_indicator += 1
        self._order = tf.constant(order, tf.int32)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "columns": [[encoding, stats] for encoding, stats, _ in self.encoders],
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        return cls([(encoding, stats) for encoding, stats in config.pop("columns")], **config)

    def call(self, columns):
        x = tf.stack([tf.cast(c, tf.float32) for c in columns], axis=1)  # [B, K]
        missing = tf.math.is_nan(x)
        x = tf.where(missing, self._median[None, :], x)
        xt = tf.transpose(x)  # [K, B]
        bin_index = tf.clip_by_value(
            tf.searchsorted(self._edges, xt, side="right", out_type=tf.int64) - 1, 0, self._last_bin[:, None]
        )
        lo = tf.gather(self._lo, bin_index, batch_dims=1)
        width = tf.gather(self._width, bin_index, batch_dims=1)
        quantile = tf.transpose(
            (tf.cast(bin_index, tf.float32) + tf.clip_by_value((xt - lo) / width, 0.0, 1.0)) / self._bins[:, None]
        )
        zscore = (tf.where(self._is_log[None, :], signed_log1p(x), x) - self._mean[None, :]) / self._std[None, :]
        encoded = tf.where(self._is_quantile[None, :], quantile, zscore)
        indicators = tf.cast(tf.gather(missing, self._indicator_columns, axis=1), tf.float32)
        return tf.gather(tf.concat([encoded, indicators], axis=1), self._order, axis=1)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class SequenceEncoder(keras.layers.Layer):
    """[B, T, C] raw steps → [B, T, C + 1]: signed log1p of the log-scaled channels, the training split's
    z-score per channel, missing cells at the channel mean (0), and a last channel flagging observed steps
    (a step whose channels are all missing is masked: 0 in every channel and in the flag). `stats` is the
    sequence's fitted statistics as JSON (`SequenceStats.to_json`)."""

    def __init__(self, log_scaled: list[bool], stats: dict, **kwargs):
        super().__init__(**kwargs)
        self.log_scaled = [bool(v) for v in log_scaled]
        self.stats = dict(stats)
        self._is_log = tf.constant(self.log_scaled)
        self._mean = tf.constant(stats["channel_mean"], tf.float32)
        self._std = tf.constant(stats["channel_std"], tf.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "log_scaled": self.log_scaled, "stats": self.stats}

    def call(self, x):
        x = tf.cast(x, tf.float32)
        missing = tf.math.is_nan(x)
        x = tf.where(self._is_log, signed_log1p(x), x)
        z = tf.where(missing, 0.0, (x - self._mean) / self._std)
        observed = tf.cast(tf.logical_not(tf.reduce_all(missing, axis=-1, keepdims=True)), tf.float32)
        return tf.concat([z * observed, observed], axis=-1)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class Bucketize(keras.layers.Layer):
    """Bucket index of a float: i for boundaries[i-1] <= x < boundaries[i]; missing → len(boundaries)+1."""

    def __init__(self, boundaries, **kwargs):
        super().__init__(**kwargs)
        self.boundaries = [float(b) for b in boundaries]

    def get_config(self) -> dict:
        return {**super().get_config(), "boundaries": self.boundaries}

    def call(self, x):
        x = tf.cast(x, tf.float32)
        idx = tf.cast(tf.raw_ops.Bucketize(input=x, boundaries=self.boundaries), tf.int64)
        return tf.where(tf.math.is_nan(x), tf.constant(len(self.boundaries) + 1, tf.int64), idx)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class JoinKeys(keras.layers.Layer):
    """Join cross keys into one string per row (the same join `feature_columns.fitting.cross_values` does)."""

    def call(self, parts):
        strings = [p if p.dtype == tf.string else tf.strings.as_string(p) for p in parts]
        return tf.strings.join(strings, separator=CROSS_SEPARATOR)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class OffsetStack(keras.layers.Layer):
    """Stack per-column indices into [B, K] and add each column's offset into the shared wide table."""

    def __init__(self, offsets, **kwargs):
        super().__init__(**kwargs)
        self.offsets = [int(o) for o in offsets]

    def get_config(self) -> dict:
        return {**super().get_config(), "offsets": self.offsets}

    def call(self, indices):
        columns = [tf.cast(i, tf.int64) for i in indices]  # [B] per column, or [B, T] (the GBDT's leaves)
        stacked = tf.concat([c[:, None] if c.shape.rank == 1 else c for c in columns], axis=1)
        return stacked + tf.constant(self.offsets, tf.int64)[None, :]


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class OneHot(keras.layers.Layer):
    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        self.depth = int(depth)

    def get_config(self) -> dict:
        return {**super().get_config(), "depth": self.depth}

    def call(self, idx):
        return tf.one_hot(idx, self.depth, dtype=tf.float32)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class UnseenCategoryNames(keras.layers.Layer):
    """Per row, the comma-joined names of columns whose non-missing value fell in the OOV bucket (index 0).

    Only rows with an unseen value build a string (they are rare), so the cost stays off the common path.
    """

    def __init__(self, names, **kwargs):
        super().__init__(**kwargs)
        self.names = list(names)

    def get_config(self) -> dict:
        return {**super().get_config(), "names": self.names}

    def call(self, pairs):
        flags = tf.stack(
            [tf.logical_and(tf.equal(index, 0), tf.not_equal(value, MISSING_CATEGORY)) for index, value in pairs],
            axis=1,
        )
        rows = tf.where(tf.reduce_any(flags, axis=1))
        labels = tf.where(tf.gather_nd(flags, rows), tf.constant([n + "," for n in self.names]), tf.constant(""))
        joined = tf.strings.regex_replace(tf.strings.reduce_join(labels, axis=1), ",$", "")
        return tf.tensor_scatter_nd_update(tf.fill(tf.shape(flags)[:1], ""), rows, joined)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class ConcatColumns(keras.layers.Layer):
    def call(self, parts):
        return tf.concat(parts, axis=1)
