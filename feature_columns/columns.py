"""Declarative column specs with the names `tf.feature_column` users know.

Each column says what a raw input is and where it goes: the `wide` (linear) branch,
the `deep` (MLP) branch, or `both`. Nothing here touches data; `fitting.py` learns the
vocabularies and statistics from the training split and `layers.py` compiles both into
Keras layers that live inside the model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from feature_columns.errors import SpecError

ROUTES = ("wide", "deep", "both")
CROSS_NAME = "_x_"  # joins a cross's keys into its default name (city_x_industry_primary)
NUMERIC_ENCODINGS = ("zscore", "log1p_zscore", "quantile", "ple")
DEEP_CATEGORICAL_ENCODINGS = ("embedding", "indicator")
DEFAULT_NUMERIC_ENCODING = "quantile"
DEFAULT_BINS = {"ple": 8, "quantile": 32}


def _check_choice(column: str, field: str, value, choices) -> None:
    if value not in choices:
        raise SpecError(f"column '{column}': {field}={value!r} is not one of {list(choices)}")


def _check_positive_int(column: str, field: str, value, allow_none=True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"column '{column}': {field} must be a positive integer, got {value!r}")


def _check_indexed(column) -> None:
    """The checks every column that becomes an index (categorical, bucketized, crossed) shares."""
    _check_choice(column.name, "route", column.route, ROUTES)
    _check_choice(column.name, "deep_encoding", column.deep_encoding, DEEP_CATEGORICAL_ENCODINGS)
    _check_positive_int(column.name, "embedding_dim", column.embedding_dim)


def argument_name(column: str) -> str:
    """The name a raw column takes inside TensorFlow (Keras inputs, SavedModel signature arguments), which
    allow only letters, digits and underscores there: other characters become `_`, and a name that would not
    start with a letter or digit gets an `x` in front. Data files, `make predict` and REST use the column's
    own name."""
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch == "_" else "_" for ch in column)
    return safe if safe[:1].isalnum() else f"x{safe}"


def auto_embedding_dim(vocabulary_size: int) -> int:
    """Embedding width from the vocabulary size (fast.ai's rule of thumb, capped at 16)."""
    return int(max(2, min(16, round(1.6 * max(vocabulary_size, 1) ** 0.56))))


@dataclasses.dataclass(frozen=True)
class CategoricalColumn:
    """A string-valued column: a fitted or given vocabulary, or hash buckets.

    Missing and unseen values go to one out-of-vocabulary bucket (index 0).
    """

    kind = "categorical"

    name: str
    vocabulary: tuple[str, ...] | None = None
    hash_buckets: int | None = None
    min_frequency: int = 1
    max_tokens: int | None = None
    route: str = "wide"
    deep_encoding: str = "embedding"
    embedding_dim: int | None = None
    protected: bool = False

    def __post_init__(self):
        _check_positive_int(self.name, "hash_buckets", self.hash_buckets)
        _check_positive_int(self.name, "min_frequency", self.min_frequency, allow_none=False)
        _check_positive_int(self.name, "max_tokens", self.max_tokens)
        _check_indexed(self)
        if self.vocabulary is not None and self.hash_buckets is not None:
            raise SpecError(f"column '{self.name}': give either vocabulary or hash_buckets, not both")
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(str(v) for v in self.vocabulary))
            if len(set(self.vocabulary)) != len(self.vocabulary):
                raise SpecError(f"column '{self.name}': vocabulary lists a value twice")

    @property
    def source_columns(self) -> tuple[str, ...]:
        return (self.name,)


@dataclasses.dataclass(frozen=True)
class NumericColumn:
    """A real-valued column. Missing values → training median, plus a missing indicator when the
    training split had missing values in this column.

    Encodings: `quantile` (default: the training split's empirical CDF, piecewise linear
    between `num_bins` quantiles, in [0, 1] — rank-based, so outliers cannot dominate);
    `zscore`; `log1p_zscore` (signed log1p, then z-score: heavy-tailed amounts); `ple`,
    piecewise-linear encoding over quantile bins (Gorishniy et al. 2022): one input per bin,
    more expressive, wider (slower) deep input. `num_bins` defaults to 32 for quantile, 8 for ple.
    """

    kind = "numeric"

    name: str
    encoding: str = DEFAULT_NUMERIC_ENCODING
    num_bins: int | None = None
    route: str = "deep"
    protected: bool = False
    group_boundaries: tuple[float, ...] | None = None  # fairness groups of a protected column (default: median)

    def __post_init__(self):
        _check_choice(self.name, "route", self.route, ROUTES)
        _check_choice(self.name, "encoding", self.encoding, NUMERIC_ENCODINGS)
        _check_positive_int(self.name, "num_bins", self.num_bins)
        if self.group_boundaries is not None:
            bounds = tuple(float(b) for b in self.group_boundaries)
            if not bounds or list(bounds) != sorted(set(bounds)):
                raise SpecError(f"column '{self.name}': group_boundaries must be strictly increasing numbers")
            object.__setattr__(self, "group_boundaries", bounds)

    @property
    def bins(self) -> int:
        return self.num_bins or DEFAULT_BINS.get(self.encoding, 8)

    @property
    def source_columns(self) -> tuple[str, ...]:
        return (self.name,)


@dataclasses.dataclass(frozen=True)
class BucketizedColumn:
    """A numeric column cut into buckets: explicit boundaries, or quantiles of the training split.

    Missing values get a bucket of their own. In the wide branch each bucket has one weight
    (a scorecard characteristic); in the deep branch the bucket is embedded.
    """

    kind = "bucketized"

    name: str
    boundaries: tuple[float, ...] | None = None
    num_buckets: int = 10
    route: str = "wide"
    deep_encoding: str = "embedding"
    embedding_dim: int | None = None
    protected: bool = False

    def __post_init__(self):
        _check_indexed(self)
        _check_positive_int(self.name, "num_buckets", self.num_buckets, allow_none=False)
        if self.boundaries is not None:
            bounds = tuple(float(b) for b in self.boundaries)
            if any(not math.isfinite(b) for b in bounds) or list(bounds) != sorted(set(bounds)):
                raise SpecError(
                    f"column '{self.name}': boundaries must be finite and strictly increasing, "
                    f"got {list(self.boundaries)}"
                )
            object.__setattr__(self, "boundaries", bounds)

    @property
    def source_columns(self) -> tuple[str, ...]:
        return (self.name,)


@dataclasses.dataclass(frozen=True)
class CrossedColumn:
    """The conjunction of two or more categorical/bucketized columns (e.g. city x industry).

    Default: a vocabulary of the combinations seen at least `min_frequency` times in the
    training split (auditable, one weight per combination); or `hash_buckets` as in
    `tf.feature_column.crossed_column`.
    """

    kind = "crossed"

    keys: tuple[str, ...]
    hash_buckets: int | None = None
    min_frequency: int = 5
    route: str = "wide"
    deep_encoding: str = "embedding"
    embedding_dim: int | None = None
    name: str = ""

    def __post_init__(self):
        keys = tuple(self.keys) if not isinstance(self.keys, str) else (self.keys,)
        object.__setattr__(self, "keys", keys)
        if not self.name:
            object.__setattr__(self, "name", CROSS_NAME.join(keys))
        if len(keys) < 2:
            raise SpecError(f"cross '{self.name}': needs at least two keys, got {list(keys)}")
        if len(set(keys)) != len(keys):
            raise SpecError(f"cross '{self.name}': keys repeat a column: {list(keys)}")
        _check_indexed(self)
        _check_positive_int(self.name, "hash_buckets", self.hash_buckets)
        _check_positive_int(self.name, "min_frequency", self.min_frequency, allow_none=False)

    @property
    def source_columns(self) -> tuple[str, ...]:
        return self.keys

    protected = False


Column = CategoricalColumn | NumericColumn | BucketizedColumn | CrossedColumn
COLUMN_TYPES = {cls.kind: cls for cls in (CategoricalColumn, NumericColumn, BucketizedColumn, CrossedColumn)}


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
