"""Declarative column specs with the names `tf.feature_column` users know.

Each column says what a raw input is and where it goes: the `wide` (linear) branch, the `deep` (MLP) branch,
or `both`. The kinds themselves, each with its whole behaviour, are in `feature_columns.kinds`; here are the
`tf.feature_column`-style constructors that make them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from feature_columns.kinds.bucketized import BucketizedColumn
from feature_columns.kinds.categorical import CategoricalColumn
from feature_columns.kinds.crossed import CrossedColumn
from feature_columns.kinds.numeric import DEFAULT_NUMERIC_ENCODING, NumericColumn

# --- The tf.feature_column vocabulary -------------------------------------------------


def categorical_column_with_vocabulary_list(
    key: str, vocabulary_list: Sequence[str] | None = None, route: str = "wide", **kwargs
) -> CategoricalColumn:
    """Like `tf.feature_column.categorical_column_with_vocabulary_list`; None fits the list on train."""
    return CategoricalColumn(
        key, vocabulary=None if vocabulary_list is None else tuple(vocabulary_list), route=route, **kwargs
    )


def categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, route: str = "wide", **kwargs
) -> CategoricalColumn:
    return CategoricalColumn(key, hash_buckets=hash_bucket_size, route=route, **kwargs)


def numeric_column(key: str, encoding: str = DEFAULT_NUMERIC_ENCODING, route: str = "deep", **kwargs) -> NumericColumn:
    return NumericColumn(key, encoding=encoding, route=route, **kwargs)


def bucketized_column(
    source_column: NumericColumn | str,
    boundaries: Sequence[float] | None = None,
    num_buckets: int = 10,
    route: str = "wide",
    **kwargs,
) -> BucketizedColumn:
    name = source_column.name if isinstance(source_column, NumericColumn) else source_column
    return BucketizedColumn(
        name,
        boundaries=None if boundaries is None else tuple(boundaries),
        num_buckets=num_buckets,
        route=route,
        **kwargs,
    )


def crossed_column(keys: Sequence, hash_bucket_size: int | None = None, route: str = "wide", **kwargs) -> CrossedColumn:
    names = tuple(k if isinstance(k, str) else k.name for k in keys)
    return CrossedColumn(names, hash_buckets=hash_bucket_size, route=route, **kwargs)


def embedding_column(categorical_column, dimension: int | None = None):
    """Route a categorical, bucketized or crossed column to the deep branch as an embedding."""
    return dataclasses.replace(categorical_column, route="deep", deep_encoding="embedding", embedding_dim=dimension)


def indicator_column(categorical_column):
    """Route a categorical, bucketized or crossed column to the deep branch as a one-hot vector."""
    return dataclasses.replace(categorical_column, route="deep", deep_encoding="indicator")
