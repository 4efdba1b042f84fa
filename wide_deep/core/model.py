"""Wide & Deep model builder (Cheng et al. 2016; the SME paper's Table 1 defaults).

`build_core` maps the preprocessor's encoded tensors to a logit:

    logit = wide(x) + deep(x) + bias
    wide(x) = sum_k w[wide_ids_k] + v · wide_dense      (logistic regression on one-hot/crossed columns)
    deep(x) = u · MLP([embeddings, deep_dense])         (ReLU 256-128-64 by default)

which is the paper's fusion (concatenate the wide features and the last hidden layer, one
linear layer, sigmoid) written as a sum. Variable names start with `wide_` or `deep_`
so the trainer can give each branch its own optimizer, as `DNNLinearCombinedClassifier` did.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from feature_columns.layers import UNSEEN_OUTPUT, EncodedLayout, safe_name
from wide_deep.core.config import ModelConfig


@keras.saving.register_keras_serializable(package="wide_deep_credit")
class SumIds(keras.layers.Layer):
    """Wide branch over categorical ids: sum of one scalar weight per active id.

    With `blend_from` (a model whose wide branch holds GBDT trees), the rows from that index on
    (the trees' leaves) are multiplied by a non-trainable mask: 0 while the model trains, so the
    trees neither contribute nor learn; 1 once their leaves have been blended in after training
    (`wide_deep.core.warm_start.blend_trees`).
    """

    def __init__(self, table_size: int, l2: float, blend_from: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.table_size = table_size
        self.l2 = l2
        self.blend_from = blend_from

    def get_config(self) -> dict:
        return {**super().get_config(), "table_size": self.table_size, "l2": self.l2, "blend_from": self.blend_from}

    def build(self, input_shape):
        self.weights_table = self.add_weight(
            name="weights",
            shape=(self.table_size,),
            initializer="zeros",
            regularizer=keras.regularizers.L2(self.l2) if self.l2 else None,
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
    return inputs


def build_core(layout: EncodedLayout, config: ModelConfig) -> keras.Model:
    """Encoded tensors → logit [B].

    With `config.ensemble_seeds` = K > 1 the deep branch is K times as wide (embeddings and
    hidden layers): the shape of K merged members (`wide_deep.core.ensemble`), side by side.
    """
    members = config.ensemble_seeds
    inputs = encoded_inputs(layout)
    logits = []
    if "wide_ids" in inputs:
        trees = [segment for segment in layout.wide_segments if segment.tree is not None]
        blend_from = trees[0].offset if trees else None
        logits.append(SumIds(layout.wide_size, config.l2_wide, blend_from, name="wide_ids_weights")(inputs["wide_ids"]))
    if "wide_dense" in inputs:
        dense = keras.layers.Dense(
            1,
            use_bias=False,
            kernel_initializer="zeros",
            name="wide_dense_weights",
            kernel_regularizer=keras.regularizers.L2(config.l2_wide) if config.l2_wide else None,
        )
        logits.append(keras.ops.squeeze(dense(inputs["wide_dense"]), -1))
    if layout.has_deep:
        parts = [inputs["deep_dense"]] if "deep_dense" in inputs else []
        for name, size, dim in layout.deep_embeddings:
            parts.append(
                keras.layers.Embedding(size, dim * members, name=f"deep_embedding_{safe_name(name)}")(
                    inputs[f"deep_ids_{safe_name(name)}"]
                )
            )
        h = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="deep_concat")(parts)
        regularizer = keras.regularizers.L2(config.l2_deep) if config.l2_deep else None
        for i, units in enumerate(config.hidden_units):
            h = keras.layers.Dense(
                units * members,
                activation=None if config.batch_norm else "relu",
                kernel_regularizer=regularizer,
                name=f"deep_hidden_{i}",
            )(h)
            if config.batch_norm:
                h = keras.layers.BatchNormalization(name=f"deep_batch_norm_{i}")(h)
                h = keras.layers.Activation("relu", name=f"deep_relu_{i}")(h)
            if config.dropout > 0:
                h = keras.layers.Dropout(config.dropout, name=f"deep_dropout_{i}")(h)
        # warm-started, the deep branch begins as a no-op: the model starts as the wide branch's regression
        initializer = "zeros" if config.warm_start != "none" else "glorot_uniform"
        deep = keras.layers.Dense(
            1, use_bias=False, kernel_initializer=initializer, kernel_regularizer=regularizer, name="deep_logit"
        )(h)
        logits.append(keras.ops.squeeze(deep, -1))
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
    return keras.Model(inputs, outputs, name="wide_deep_serving")
