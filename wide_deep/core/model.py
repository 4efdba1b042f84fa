"""Wide & Deep model builder (Cheng et al. 2016; the SME paper's Table 1 defaults).

`build_core` maps the preprocessor's encoded tensors to a logit:

    logit = wide(x) + deep(x) + bias
    wide(x) = sum_k w[wide_ids_k] + v · wide_dense     (a logistic regression over one-hot, bucketized and crossed
                                                        columns; with a GBDT, one more column per tree whose
                                                        leaves stay at zero until they are blended in)
    deep(x) = u · MLP([encoded numerics, embeddings, tower(sequence) ...])   (ReLU 256-128-64 by default; a GRU
                                                        or TCN tower per sequence input)

which is the paper's fusion (concatenate the wide features and the last hidden layer, one linear layer,
sigmoid) written as a sum; `--fusion=gate|attention` weighs the two logits per applicant instead
(`BranchFusion`). An ensemble's K members sit side by side in one deep branch K times as wide
(`wide_deep.core.ensemble`). Variable names start with `wide_` or `deep_` so the trainer can give each branch
its own optimizer, as `DNNLinearCombinedClassifier` did.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from feature_columns.layers import UNSEEN_OUTPUT
from feature_columns.names import raw_names_as_keys, safe_name
from feature_columns.preprocessor import EncodedLayout
from wide_deep.core.config import ModelConfig


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class StepL2(keras.regularizers.Regularizer):
    """L2 on the wide table with an ordered characteristic's ranges penalised by their steps, not their weights.

    `l2 · (Σ w² over the rows outside any ordered segment's ranges + Σ (w_upper − w_lower)² over adjacent
    ranges)`: the penalty the warm start's logistic regression is fitted with (`wide_deep.core.warm_start`),
    so fine bins keep smooth points while training. Without steps it is Keras' L2.
    """

    def __init__(self, l2: float, size: int, steps=()):
        self.l2, self.size, self.steps = float(l2), int(size), [list(map(int, step)) for step in steps]
        free = np.ones(self.size, "float32")
        for lower, upper in self.steps:
            free[lower] = free[upper] = 0.0
        self.free = tf.constant(free)
        self.lower = tf.constant([lower for lower, _ in self.steps], tf.int32)
        self.upper = tf.constant([upper for _, upper in self.steps], tf.int32)

    def __call__(self, weights):
        penalty = tf.reduce_sum(self.free * tf.square(weights))
        if self.steps:
            penalty += tf.reduce_sum(tf.square(tf.gather(weights, self.upper) - tf.gather(weights, self.lower)))
        return self.l2 * penalty

    def get_config(self) -> dict:
        return {"l2": self.l2, "size": self.size, "steps": self.steps}


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class SumIds(keras.layers.Layer):
    """Wide branch over categorical ids: sum of one scalar weight per active id.

    With `blend_from` (a model whose wide branch holds GBDT trees), the rows from that index on
    (the trees' leaves) are multiplied by a non-trainable mask, 1 once their leaves have been blended in
    after training (`wide_deep.core.blend.with_trees`; the network trains without trees, and models of
    earlier releases trained with the mask at 0).
    """

    def __init__(self, table_size: int, l2: float, blend_from: int | None = None, steps=(), **kwargs):
        super().__init__(**kwargs)
        self.table_size = table_size
        self.l2 = l2
        self.blend_from = blend_from
        self.steps = [list(map(int, step)) for step in steps]  # adjacent ranges of ordered characteristics

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "table_size": self.table_size,
            "l2": self.l2,
            "blend_from": self.blend_from,
            "steps": self.steps,
        }

    def build(self, input_shape):
        self.weights_table = self.add_weight(
            name="weights",
            shape=(self.table_size,),
            initializer="zeros",
            regularizer=StepL2(self.l2, self.table_size, self.steps) if self.l2 else None,
        )
        self.tree_mask = None
        if self.blend_from is not None:
            mask = [1.0] * self.blend_from + [0.0] * (self.table_size - self.blend_from)
            self.tree_mask = self.add_weight(
                name="tree_mask",
                shape=(self.table_size,),
                trainable=False,
                initializer=keras.initializers.Constant(mask),
            )

    def effective_table(self):
        return self.weights_table if self.tree_mask is None else self.weights_table * self.tree_mask

    def call(self, ids):
        return tf.reduce_sum(tf.gather(self.effective_table(), ids), axis=1)


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class FusionBias(keras.layers.Layer):
    """Sum of branch logits plus one trainable bias (initialised at the training log-odds)."""

    def __init__(self, initial: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.initial = float(initial)

    def get_config(self) -> dict:
        return {**super().get_config(), "initial": self.initial}

    def build(self, input_shape):
        self.bias = self.add_weight(name="bias", shape=(), initializer=keras.initializers.Constant(self.initial))

    def call(self, logits):
        return tf.add_n(logits) + self.bias


def encoded_inputs(layout: EncodedLayout) -> dict[str, keras.KerasTensor]:
    inputs = {}
    if layout.wide_segments:
        inputs["wide_ids"] = keras.Input(shape=(len(layout.wide_segments),), dtype="int64", name="wide_ids")
    if layout.wide_dense_names:
        inputs["wide_dense"] = keras.Input(shape=(len(layout.wide_dense_names),), dtype="float32", name="wide_dense")
    if layout.deep_dense_names:
        inputs["deep_dense"] = keras.Input(shape=(len(layout.deep_dense_names),), dtype="float32", name="deep_dense")
    for name, _, _ in layout.deep_embeddings:
        inputs[f"deep_ids_{safe_name(name)}"] = keras.Input(shape=(), dtype="int64", name=f"deep_ids_{safe_name(name)}")
    for name, steps, width in layout.sequences:
        key = f"deep_sequence_{safe_name(name)}"
        inputs[key] = keras.Input(shape=(steps, width), dtype="float32", name=key)
    return inputs


SEQUENCE_TOWERS = ("gru", "tcn")
FUSIONS = ("sum", "gate", "attention")


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class BranchFusion(keras.layers.Layer):
    """Per-applicant weights over the wide and deep logits, from the deep branch's last hidden layer:
    [wide, deep, hidden] → g_wide · wide + g_deep · deep.

    `gate`: g = 2 σ(hidden · A + c), one independent gate per branch; `attention`: g = 2 softmax over
    the two branches of (hidden · Q) · key_branch / √k. Both start at g = (1, 1), the paper's sum.
    """

    def __init__(self, mode: str, key_dim: int = 8, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.key_dim = int(key_dim)

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode, "key_dim": self.key_dim}

    def build(self, input_shape):
        hidden = int(input_shape[2][-1])
        if self.mode == "gate":
            self.kernel = self.add_weight(name="kernel", shape=(hidden, 2), initializer="zeros")
            self.offset = self.add_weight(name="offset", shape=(2,), initializer="zeros")
        else:
            self.query = self.add_weight(name="query", shape=(hidden, self.key_dim), initializer="zeros")
            self.keys = self.add_weight(name="keys", shape=(2, self.key_dim), initializer="glorot_uniform")

    def gates(self, hidden):
        """[B, 2]: the weights of the wide and the deep logit."""
        if self.mode == "gate":
            return 2.0 * tf.sigmoid(hidden @ self.kernel + self.offset)
        scores = (hidden @ self.query) @ tf.transpose(self.keys) / math.sqrt(self.key_dim)
        return 2.0 * tf.nn.softmax(scores, axis=-1)

    def call(self, parts):
        wide, deep, hidden = parts
        gates = self.gates(hidden)
        return gates[:, 0] * wide + gates[:, 1] * deep


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class MaskedGRUCell(keras.layers.Layer):
    """A GRU cell that skips masked steps: h_t = m_t · GRU(x_t, h_t-1) + (1 - m_t) · h_t-1, with m_t the step's
    observed flag (the input's last channel). At m ∈ {0, 1} this is Keras' masking; written as a product it is
    smooth in m, so integrated gradients along a path on which the flag moves stay complete."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.cell = keras.layers.GRUCell(self.units, name="gru_cell")
        self.state_size = self.units
        self.output_size = self.units

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units}

    def build(self, input_shape):
        self.cell.build(input_shape)

    def call(self, inputs, states, training=False):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        observed = inputs[:, -1:]
        updated, _ = self.cell(inputs, [previous], training=training)
        h = observed * updated + (1.0 - observed) * previous
        return h, [h]


class DeepBranch:
    """The deep branch as two functions, used both to build the core and to explain it:

    - `vector(encoded)`: the flat deep input d = [encoded numerics, embeddings, each sequence's steps];
    - `head(d)`: d → (deep logit [B], last hidden layer [B, H]): each sequence's steps go through the
      tower (GRU or TCN), whose output joins the rest of d in the MLP.

    Built with `create=True` it makes the layers (`build_core`); otherwise it finds them in a core.
    """

    def __init__(self, layout: EncodedLayout, config: ModelConfig, core: keras.Model | None = None):
        self.layout, self.config = layout, config
        members = config.ensemble_seeds
        regularizer = keras.regularizers.L2(config.l2_deep) if config.l2_deep else None

        def layer(name: str, make):
            return core.get_layer(name) if core is not None else make(name)

        self.embeddings = [
            (
                name,
                layer(
                    f"deep_embedding_{safe_name(name)}",
                    lambda n, s=size, d=dim: keras.layers.Embedding(s, d * members, name=n),
                ),
            )
            for name, size, dim in layout.deep_embeddings
        ]
        self.flat_width = len(layout.deep_dense_names) + sum(dim * members for _, _, dim in layout.deep_embeddings)
        self.towers = [
            (name, steps, width, self._tower_layers(name, width, layer)) for name, steps, width in layout.sequences
        ]
        self.hidden = []
        for i, units in enumerate(config.hidden_units):
            group = [
                layer(
                    f"deep_hidden_{i}",
                    lambda n, u=units: keras.layers.Dense(
                        u * members,
                        activation=None if config.batch_norm else "relu",
                        kernel_regularizer=regularizer,
                        name=n,
                    ),
                )
            ]
            if config.batch_norm:
                group += [
                    layer(f"deep_batch_norm_{i}", lambda n: keras.layers.BatchNormalization(name=n)),
                    layer(f"deep_relu_{i}", lambda n: keras.layers.Activation("relu", name=n)),
                ]
            if config.dropout > 0:
                group.append(layer(f"deep_dropout_{i}", lambda n: keras.layers.Dropout(config.dropout, name=n)))
            self.hidden += group
        # warm-started, the deep branch begins as a no-op: the model starts as the wide branch's regression (without
        # a wide branch there is nothing to start from, and a zero output layer would hold the hidden layers still)
        initializer = "zeros" if config.warm_start != "none" and layout.has_wide else "glorot_uniform"
        self.logit = layer(
            "deep_logit",
            lambda n: keras.layers.Dense(
                1, use_bias=False, kernel_initializer=initializer, kernel_regularizer=regularizer, name=n
            ),
        )

    def _tower_layers(self, name: str, width: int, layer) -> list:
        units, safe = self.config.sequence_units, safe_name(name)
        if self.config.sequence_tower == "gru":
            return [layer(f"deep_gru_{safe}", lambda n: keras.layers.RNN(MaskedGRUCell(units), unroll=True, name=n))]
        steps = {n: s for n, s, _ in self.layout.sequences}[name]
        layers, dilation, reach, i = [], 1, 1, 0
        while True:  # dilated causal convolutions, kernel 3, until the receptive field covers every step
            layers.append(
                layer(
                    f"deep_tcn_{safe}_{i}",
                    lambda n, d=dilation: keras.layers.Conv1D(
                        units, 3, padding="causal", dilation_rate=d, activation="relu", name=n
                    ),
                )
            )
            reach += 2 * dilation
            dilation, i = dilation * 2, i + 1
            if reach >= steps:
                break
        layers.append(layer(f"deep_tcn_{safe}_skip", lambda n: keras.layers.Conv1D(units, 1, name=n)))
        return layers

    def _tower(self, layers: list, steps: tf.Tensor):
        observed = steps[:, :, -1]
        if self.config.sequence_tower == "gru":
            return layers[0](steps)
        h = layers[-1](steps)  # the residual path's projection to the tower's width
        for conv in layers[:-1]:
            h = h + conv(h)
        weights = observed[:, :, None]
        pooled = keras.ops.sum(h * weights, axis=1) / keras.ops.maximum(keras.ops.sum(weights, axis=1), 1.0)
        return keras.ops.concatenate([h[:, -1, :], pooled], axis=1)

    def vector(self, encoded: dict) -> tf.Tensor:
        parts = [encoded["deep_dense"]] if "deep_dense" in encoded else []
        parts += [emb(encoded[f"deep_ids_{safe_name(name)}"]) for name, emb in self.embeddings]
        parts += [
            keras.ops.reshape(encoded[f"deep_sequence_{safe_name(name)}"], (-1, steps * width))
            for name, steps, width, _ in self.towers
        ]
        return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=1)

    def head(self, d, training: bool | None = None):
        parts = [d[:, : self.flat_width]] if self.flat_width else []
        offset = self.flat_width
        for _, steps, width, layers in self.towers:
            block = keras.ops.reshape(d[:, offset : offset + steps * width], (-1, steps, width))
            parts.append(self._tower(layers, block))
            offset += steps * width
        h = parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=1)
        for layer in self.hidden:
            h = (
                layer(h, training=training)
                if layer.name.startswith(("deep_batch_norm_", "deep_dropout_"))
                else layer(h)
            )
        return keras.ops.squeeze(self.logit(h), -1), h


def build_core(layout: EncodedLayout, config: ModelConfig) -> keras.Model:
    """Encoded tensors → logit [B].

    With `config.ensemble_seeds` = K > 1 the deep branch is K times as wide (embeddings and
    hidden layers): the shape of K merged members (`wide_deep.core.ensemble`), side by side.
    With `config.fusion` other than `sum`, the wide and deep logits are weighted per applicant
    (`BranchFusion`) before the bias.
    """
    inputs = encoded_inputs(layout)
    wide_parts = []
    if "wide_ids" in inputs:
        trees = [segment for segment in layout.wide_segments if segment.tree is not None]
        blend_from = trees[0].offset if trees else None
        wide_parts.append(
            SumIds(layout.wide_size, config.l2_wide, blend_from, layout.ordered_steps(), name="wide_ids_weights")(
                inputs["wide_ids"]
            )
        )
    if "wide_dense" in inputs:
        dense = keras.layers.Dense(
            1,
            use_bias=False,
            kernel_initializer="zeros",
            name="wide_dense_weights",
            kernel_regularizer=keras.regularizers.L2(config.l2_wide) if config.l2_wide else None,
        )
        wide_parts.append(keras.ops.squeeze(dense(inputs["wide_dense"]), -1))
    logits = list(wide_parts)
    if layout.has_deep:
        branch = DeepBranch(layout, config)
        deep, hidden = branch.head(branch.vector(inputs))
        if config.fusion != "sum" and wide_parts:
            wide = wide_parts[0] if len(wide_parts) == 1 else keras.ops.add(*wide_parts)
            logits = [BranchFusion(config.fusion, name="deep_fusion")([wide, deep, hidden])]
        else:
            logits.append(deep)
    logit = FusionBias(config.initial_bias, name="fusion_bias")(logits)
    return keras.Model(inputs, logit, name=f"{config.model_type}_core")


def branch_variables(core: keras.Model) -> tuple[list, list]:
    """(wide variables, deep variables); the fusion bias goes with the deep branch when there is one."""
    wide, deep, bias = [], [], []
    for var in core.trainable_variables:
        path = var.path
        (wide if path.startswith("wide_") else deep if path.startswith("deep_") else bias).append(var)
    return (wide, deep + bias) if deep else (wide + bias, [])


def log_odds(rate: float) -> float:
    rate = min(max(rate, 1e-6), 1 - 1e-6)
    return math.log(rate / (1 - rate))


def build_serving_model(preprocessor: keras.Model, core: keras.Model, inputs: dict) -> keras.Model:
    """Raw named features → {"probability", and "unseen_categories" when the preprocessor reports it}:
    preprocessing and the trained core in one graph."""
    encoded = dict(preprocessor(inputs))
    unseen = encoded.pop(UNSEEN_OUTPUT, None)
    probability = keras.layers.Activation("sigmoid", name="probability")(core(encoded))
    outputs = {"probability": probability} if unseen is None else {"probability": probability, UNSEEN_OUTPUT: unseen}
    with raw_names_as_keys():
        return keras.Model(inputs, outputs, name="wide_deep_serving")


def register_keras_layers() -> None:
    """Register every custom Keras layer of this project, so that `keras.models.load_model` can read a `.keras`
    file of a model (importing this module registered the core's layers; these are the preprocessing's)."""
    import feature_columns.layers
    import feature_columns.tree_layers  # noqa: F401
