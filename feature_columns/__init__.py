"""Declarative feature columns for Wide & Deep models, compiled into Keras layers.

The names follow `tf.feature_column` so its users feel at home; a spec can be written in Python or YAML (see
README, "Spec format"). Modules: `kinds` (one module per column kind, with its whole behaviour, and their
registry), `columns` (the `tf.feature_column`-style constructors), `spec` (`FeatureSpec`, the dataset schema,
and `ModelSpec`, a spec routed for one model), `values` (the raw-value contract), `inputs` (frames → model
inputs), `fitting` (state learned on the training split), `layers` (the Keras building blocks) and
`preprocessor` (the Keras preprocessing model).
"""

from feature_columns.columns import (
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    indicator_column,
    numeric_column,
)
from feature_columns.errors import DataError, SpecError, UserError
from feature_columns.kinds import (
    BucketizedColumn,
    CategoricalColumn,
    CrossedColumn,
    NumericColumn,
    SequenceColumn,
)
from feature_columns.spec import FeatureSpec, LabelSpec, ModelSpec, TransactionSpec, load_spec

__all__ = [
    "BucketizedColumn",
    "CategoricalColumn",
    "CrossedColumn",
    "NumericColumn",
    "SequenceColumn",
    "FeatureSpec",
    "ModelSpec",
    "LabelSpec",
    "TransactionSpec",
    "load_spec",
    "bucketized_column",
    "categorical_column_with_hash_bucket",
    "categorical_column_with_vocabulary_list",
    "crossed_column",
    "embedding_column",
    "indicator_column",
    "numeric_column",
    "DataError",
    "SpecError",
    "UserError",
]
