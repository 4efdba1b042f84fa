"""Compile a `ModelSpec` plus its fitted state into Keras preprocessing layers.

`build_preprocessor` returns a Keras model from raw named features (strings for
categoricals, float32 for numerics) to the encoded tensors the branches consume:

- `wide_ids`  int64 [B, K]: one index per wide categorical/bucketized/crossed column,
  offset into a single shared table so the wide branch is one embedding lookup
  (equivalent to one-hot vectors concatenated into a Dense(1)).
- `wide_dense` float32 [B, Dw]: numeric columns routed to the linear branch (their encoding).
- `deep_dense` float32 [B, Dd]: numeric encodings, missing indicators and one-hot indicators.
- `deep_ids_<column>` int64 [B]: indices of columns the deep branch embeds.
- `deep_sequence_<name>` float32 [B, T, C + 1]: a sequence's channels, encoded, with a last channel
  that is 1 where the step was observed and 0 where it is masked.
- `unseen_categories` string [B] (serving only): see `build_preprocessor(report_unseen=True)`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from feature_columns.columns import (
    BucketizedColumn,
    CategoricalColumn,
    NumericColumn,
    argument_name,
    auto_embedding_dim,
)
from feature_columns.fitting import (
    GBDT,
    FittedState,
    HashBuckets,
    NumericStats,
    SequenceStats,
    Vocabulary,
    entry_from_json,
)
from feature_columns.inputs import CROSS_SEPARATOR, MISSING_CATEGORY, input_shape, raw_dtype
from feature_columns.sequences import SequenceColumn
from feature_columns.spec import ModelSpec
from feature_columns.tree_layers import TreeInputs, TreeLeaves
from feature_columns.trees import Trees

UNSEEN_OUTPUT = "unseen_categories"


@dataclasses.dataclass(frozen=True)
class WideSegment:
    """Rows [offset, offset + size) of the wide table belong to one column; row offset+0 is its OOV/missing bucket.

    A GBDT tree's segment (`tree` set) has one row per leaf instead.
    """

    name: str
    offset: int
    size: int
    tree: int | None = None


@dataclasses.dataclass(frozen=True)
class EncodedLayout:
    """What the preprocessor emits, so the model builder can size its branches."""

    wide_segments: tuple[WideSegment, ...]
    wide_dense_names: tuple[str, ...]
    deep_dense_names: tuple[str, ...]
    deep_embeddings: tuple[tuple[str, int, int], ...]  # (column, cardinality, dim)
    sequences: tuple[tuple[str, int, int], ...] = ()  # (sequence, steps, encoded width = channels + 1)

    @property
    def wide_size(self) -> int:
        return sum(s.size for s in self.wide_segments)

    @property
    def column_segments(self) -> int:
        """How many wide segments are columns of the spec (a GBDT's trees, if any, come after them)."""
        return sum(1 for segment in self.wide_segments if segment.tree is None)

    @property
    def has_wide(self) -> bool:
        return bool(self.wide_segments or self.wide_dense_names)

    @property
    def has_deep(self) -> bool:
        return bool(self.deep_dense_names or self.deep_embeddings or self.sequences)


def signed_log1p(x):
    """sign(x) · log(1 + |x|) in the graph: `feature_columns.fitting.signed_log1p`, which fits the statistics."""
    return tf.sign(x) * tf.math.log1p(tf.abs(x))


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class NumericEncoder(keras.layers.Layer):
    """Impute the training median, encode, and append a missing indicator: [B] → [B, width]."""

    def __init__(self, encoding: str, stats: NumericStats, **kwargs):
        super().__init__(**kwargs)
        self.encoding = encoding
        self.stats = stats
        self.with_indicator = self.has_indicator(stats)
        edges = np.asarray(stats.edges if stats.edges is not None else [0.0, 1.0], dtype="float32")
        self._lo = tf.constant(edges[:-1])
        self._width = tf.constant(edges[1:] - edges[:-1])

    @staticmethod
    def has_indicator(stats: NumericStats) -> bool:
        """An indicator only where the training split had missing values (elsewhere it would be constant 0)."""
        return stats.missing_rate > 0

    @property
    def output_width(self) -> int:
        base = len(self.stats.edges) - 1 if self.encoding == "ple" else 1
        return base + int(self.with_indicator)

    def feature_names(self, column: str) -> list[str]:
        if self.encoding == "ple":
            names = [f"{column}:ple{i}" for i in range(len(self.stats.edges) - 1)]
        else:
            names = [f"{column}:{self.encoding}"]
        return names + ([f"{column}:missing"] if self.with_indicator else [])

    def get_config(self) -> dict:
        return {**super().get_config(), "encoding": self.encoding, "stats": self.stats.to_json()}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        return cls(config.pop("encoding"), entry_from_json("stats", config.pop("stats")), **config)

    def call(self, x):
        x = tf.cast(x, tf.float32)
        missing = tf.math.is_nan(x)
        x = tf.where(missing, tf.constant(self.stats.median, tf.float32), x)
        if self.encoding in ("ple", "quantile"):
            ple = tf.clip_by_value((x[:, None] - self._lo) / self._width, 0.0, 1.0)
            encoded = ple if self.encoding == "ple" else tf.reduce_mean(ple, axis=1, keepdims=True)
        else:
            if self.encoding == "log1p_zscore":
                x = signed_log1p(x)
            encoded = ((x - self.stats.mean) / self.stats.std)[:, None]
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

    def __init__(self, columns: list[tuple[str, NumericStats]], **kwargs):
        """`columns`: (encoding, fitted stats) per column, in order."""
        super().__init__(**kwargs)
        self.encoders = [(encoding, stats, NumericEncoder.has_indicator(stats)) for encoding, stats in columns]
        k = len(columns)
        longest = max([len(st.edges or ()) for _, st, _ in self.encoders] + [2])
        edges = np.full((k, longest), np.inf, dtype="float32")  # padded with +inf: rows stay sorted
        bins = np.ones(k, dtype="float32")
        for j, (encoding, stats, _) in enumerate(self.encoders):
            if encoding == "quantile":
                e = np.asarray(stats.edges, dtype="float32")
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
        self._median = tf.constant([st.median for _, st, _ in self.encoders], tf.float32)
        self._mean = tf.constant([st.mean for _, st, _ in self.encoders], tf.float32)
        self._std = tf.constant([st.std for _, st, _ in self.encoders], tf.float32)
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
            "columns": [[encoding, stats.to_json()] for encoding, stats, _ in self.encoders],
        }

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        columns = [(encoding, entry_from_json("stats", stats)) for encoding, stats in config.pop("columns")]
        return cls(columns, **config)

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
    (a step whose channels are all missing is masked: 0 in every channel and in the flag)."""

    def __init__(self, log_scaled: list[bool], stats: SequenceStats, **kwargs):
        super().__init__(**kwargs)
        self.log_scaled = [bool(v) for v in log_scaled]
        self.stats = stats
        self._is_log = tf.constant(self.log_scaled)
        self._mean = tf.constant(stats.channel_mean, tf.float32)
        self._std = tf.constant(stats.channel_std, tf.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "log_scaled": self.log_scaled, "stats": self.stats.to_json()}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        return cls(config.pop("log_scaled"), entry_from_json("stats", config.pop("stats")), **config)

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


def raw_inputs(spec: ModelSpec) -> dict[str, keras.KerasTensor]:
    """One Keras input per raw feature: strings for categoricals, float32 otherwise; [steps, channels] per row
    for a sequence."""
    return {
        c.name: keras.Input(shape=input_shape(c), dtype=raw_dtype(c), name=argument_name(c.name))
        for c in spec.input_columns
    }


def _index_layer(name: str, entry: Vocabulary | HashBuckets) -> keras.layers.Layer:
    safe = safe_name(name)
    if isinstance(entry, HashBuckets):
        return keras.layers.Hashing(num_bins=entry.count, name=f"hash_{safe}")
    return keras.layers.StringLookup(
        vocabulary=list(entry.values), num_oov_indices=1, mask_token=None, output_mode="int", name=f"lookup_{safe}"
    )


def safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)


def _encode_numeric_runs(parts: list, prefix: str) -> list:
    """Apply the numeric encoders in `parts`, each run of adjacent single-output ones as one NumericBlock
    (the column order, and so the encoded layout, is unchanged)."""
    out, run = [], []

    def flush():
        if len(run) > 1:
            out.append(
                NumericBlock(
                    [(e.encoding, e.stats) for e, _ in run], name=f"encode_{prefix}_{safe_name(run[0][0].name)}_block"
                )([x for _, x in run])
            )
        elif run:
            out.append(run[0][0](run[0][1]))
        run.clear()

    for part in parts:
        if isinstance(part, tuple) and part[0].encoding != "ple":
            run.append(part)
            continue
        flush()
        out.append(part[0](part[1]) if isinstance(part, tuple) else part)
    flush()
    return out


def build_preprocessor(
    spec: ModelSpec, state: FittedState, report_unseen: bool = False
) -> tuple[keras.Model, EncodedLayout]:
    """The raw-features → encoded-tensors model for a routed spec (see `FeatureSpec.for_model`).

    With `report_unseen` (serving), it also emits `unseen_categories`: per row, the names of
    vocabulary columns whose value was not seen in training, from the same lookups the model uses.
    """
    inputs = raw_inputs(spec)
    indices: dict[str, Any] = {}
    for col in spec.input_columns:
        if isinstance(col, CategoricalColumn):
            indices[col.name] = _index_layer(col.name, state[col.name])(inputs[col.name])
        elif isinstance(col, BucketizedColumn):
            indices[col.name] = Bucketize(state[col.name].boundaries, name=f"bucketize_{safe_name(col.name)}")(
                inputs[col.name]
            )
    for cross in spec.crosses:
        parts = [inputs[k] if isinstance(spec.column(k), CategoricalColumn) else indices[k] for k in cross.keys]
        joined = JoinKeys(name=f"join_{safe_name(cross.name)}")(parts)
        indices[cross.name] = _index_layer(cross.name, state[cross.name])(joined)

    wide_ids, segments, wide_dense, wide_dense_names = [], [], [], []
    deep_dense, deep_dense_names, deep_ids, deep_embeddings = [], [], {}, []
    sequences, sequence_layout = {}, []
    offset = 0
    for col in spec.columns:
        if isinstance(col, SequenceColumn):
            encoder = SequenceEncoder(
                [c in col.log_scaled for c in col.channels],
                state[col.name],
                name=f"encode_sequence_{safe_name(col.name)}",
            )
            sequences[col.name] = encoder(inputs[col.name])
            sequence_layout.append((col.name, col.steps, len(col.channels) + 1))
            continue
        to_wide, to_deep = col.route in ("wide", "both"), col.route in ("deep", "both")
        if isinstance(col, NumericColumn):
            for target, names, flag in (
                (wide_dense, wide_dense_names, to_wide),
                (deep_dense, deep_dense_names, to_deep),
            ):
                if flag:
                    encoder = NumericEncoder(
                        col.encoding,
                        state[col.name],
                        name=f"encode_{'wide' if target is wide_dense else 'deep'}_{safe_name(col.name)}",
                    )
                    target.append((encoder, inputs[col.name]))  # applied by _encode_numeric_runs below
                    names.extend(encoder.feature_names(col.name))
            continue
        size = state[col.name].cardinality
        if to_wide:
            wide_ids.append(indices[col.name])
            segments.append(WideSegment(col.name, offset, size))
            offset += size
        if to_deep:
            if col.deep_encoding == "indicator":
                deep_dense.append(OneHot(size, name=f"onehot_{safe_name(col.name)}")(indices[col.name]))
                deep_dense_names.extend(f"{col.name}={i}" for i in range(size))
            else:
                deep_ids[col.name] = indices[col.name]
                deep_embeddings.append((col.name, size, col.embedding_dim or auto_embedding_dim(size)))

    if spec.gbdt:  # the trees' leaves, one wide column per tree, after every other wide column
        trees = state[GBDT]
        wide_ids.append(TreeLeaves(trees, name="gbdt_leaves")(_tree_matrix(spec, state, trees, inputs, indices)))
        for t, tree in enumerate(trees.trees):
            segments.append(WideSegment(f"gbdt_tree_{t}", offset, tree.num_leaves, tree=t))
            offset += tree.num_leaves

    wide_dense, deep_dense = _encode_numeric_runs(wide_dense, "wide"), _encode_numeric_runs(deep_dense, "deep")
    outputs: dict[str, Any] = {}
    if wide_ids:
        outputs["wide_ids"] = OffsetStack([s.offset for s in segments], name="wide_ids")(wide_ids)
    if wide_dense:
        outputs["wide_dense"] = ConcatColumns(name="wide_dense")(wide_dense)
    if deep_dense:
        outputs["deep_dense"] = ConcatColumns(name="deep_dense")(deep_dense)
    for name, idx in deep_ids.items():
        outputs[f"deep_ids_{safe_name(name)}"] = idx
    for name, encoded in sequences.items():
        outputs[f"deep_sequence_{safe_name(name)}"] = encoded
    vocabulary_columns = [
        c.name for c in spec.input_columns if isinstance(c, CategoricalColumn) and isinstance(state[c.name], Vocabulary)
    ]
    if report_unseen and vocabulary_columns:
        outputs[UNSEEN_OUTPUT] = UnseenCategoryNames(vocabulary_columns, name=UNSEEN_OUTPUT)(
            [(indices[n], inputs[n]) for n in vocabulary_columns]
        )
    layout = EncodedLayout(
        tuple(segments),
        tuple(wide_dense_names),
        tuple(deep_dense_names),
        tuple(deep_embeddings),
        tuple(sequence_layout),
    )
    return keras.Model(inputs, outputs, name="preprocessor"), layout


def _tree_matrix(spec: ModelSpec, state: FittedState, trees: Trees, inputs: dict, indices: dict):
    """The [B, F] float32 matrix the GBDT reads (see `feature_columns.tree_layers.TreeInputs`)."""
    kinds, parts = [], []
    for name in trees.columns:
        entry = state.get(name)
        if isinstance(spec.column(name), CategoricalColumn):
            kinds.append("vocabulary" if isinstance(entry, Vocabulary) else "hash")
            parts.append(indices[name])
        else:
            kinds.append("number")
            parts.append(inputs[name])
    return TreeInputs(kinds, name="gbdt_inputs")(parts)


def tree_input_model(spec: ModelSpec, state: FittedState, columns: list[str]) -> tuple[keras.Model, list[bool]]:
    """(raw features → the GBDT's input matrix over `columns`, which of them are categorical): what LightGBM is
    fitted on, built from the same layers the model evaluates its trees on."""
    inputs = {name: tensor for name, tensor in raw_inputs(spec).items() if name in columns}
    indices = {
        c.name: _index_layer(c.name, state[c.name])(inputs[c.name])
        for c in spec.input_columns
        if isinstance(c, CategoricalColumn) and c.name in columns
    }
    shell = Trees(tuple(columns), tuple(isinstance(spec.column(n), CategoricalColumn) for n in columns), ())
    matrix = _tree_matrix(spec, state, shell, inputs, indices)
    return keras.Model(inputs, matrix, name="gbdt_inputs"), list(shell.categorical)
