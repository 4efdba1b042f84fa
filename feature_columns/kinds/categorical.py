"""Categorical columns: string values looked up in a fitted or given vocabulary, or hashed into buckets.

Missing and unseen values go to one out-of-vocabulary bucket (index 0); the REST server and the export report
which columns of a row held an unseen value. A GBDT reads a vocabulary column's position in the vocabulary
(unseen: missing) and a hashed column's bucket.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from feature_columns.errors import DataError, SpecError
from feature_columns.kinds.base import (
    Builder,
    HashBuckets,
    IndexedColumn,
    Vocabulary,
    check_positive_int,
    checked_meanings,
    fit_vocabulary,
    index_layer,
    out_of_vocabulary_counts,
    vocabulary_labels,
)


@dataclasses.dataclass(frozen=True)
class CategoricalColumn(IndexedColumn):
    """A string-valued column: a fitted or given vocabulary, or hash buckets."""

    kind = "categorical"
    raw_dtype = "string"
    crossable = True
    entries = (Vocabulary, HashBuckets)
    scorecard_type = "categorical"

    name: str
    vocabulary: tuple[str, ...] | None = None
    hash_buckets: int | None = None
    min_frequency: int = 1
    max_tokens: int | None = None
    route: str = "wide"
    deep_encoding: str = "embedding"
    embedding_dim: int | None = None
    protected: bool = False
    meanings: tuple[tuple[str, str], ...] | None = None  # what its codes stand for (fairness group labels)

    def __post_init__(self):
        object.__setattr__(self, "meanings", checked_meanings(self.name, self.meanings))
        check_positive_int(self.name, "hash_buckets", self.hash_buckets)
        check_positive_int(self.name, "min_frequency", self.min_frequency, allow_none=False)
        check_positive_int(self.name, "max_tokens", self.max_tokens)
        self.check_indexed()
        if self.vocabulary is not None and self.hash_buckets is not None:
            raise SpecError(f"column '{self.name}': give either vocabulary or hash_buckets, not both")
        if self.vocabulary is not None:
            object.__setattr__(self, "vocabulary", tuple(str(v) for v in self.vocabulary))
            if len(set(self.vocabulary)) != len(self.vocabulary):
                raise SpecError(f"column '{self.name}': vocabulary lists a value twice")

    def fit(self, arrays: dict[str, np.ndarray], state: dict, spec) -> Vocabulary | HashBuckets:
        if self.hash_buckets is not None:
            return HashBuckets(self.hash_buckets)
        if self.vocabulary is not None:
            return Vocabulary(tuple(self.vocabulary))
        vocabulary = fit_vocabulary(arrays[self.name], self.min_frequency, self.max_tokens)
        if not vocabulary:
            raise DataError(
                f"training split: categorical column '{self.name}' has no value seen {self.min_frequency}+ times"
            )
        return Vocabulary(vocabulary)

    def quality(self, arrays: dict[str, np.ndarray], state: dict, spec, fitted_here: bool) -> dict[str, int]:
        """Missing values and values outside the vocabulary, both scored through the out-of-vocabulary bucket:
        `unlisted_to_oov` when the spec lists the vocabulary, `rare_to_oov` on the rows it was fitted on (seen
        fewer than `min_frequency` times), `unseen_to_oov` elsewhere."""
        oov_key = (
            "unlisted_to_oov" if self.vocabulary is not None else "rare_to_oov" if fitted_here else "unseen_to_oov"
        )
        return out_of_vocabulary_counts(arrays[self.name], state[self.name], oov_key, count_missing=True)

    def cross_values(self, values: np.ndarray, entry) -> np.ndarray:
        """What a cross joins of this column: its strings."""
        return values.astype(str)

    def compile_index(self, builder: Builder):
        entry = builder.entry(self.name)
        if isinstance(entry, Vocabulary):
            builder.track_unseen(self.name)
        return index_layer(self.name, entry)(builder.input(self.name))

    def cross_part(self, builder: Builder):
        """What a cross joins of this column in the graph: its raw strings (as `cross_values`)."""
        return builder.input(self.name)

    def tree_feature(self, builder: Builder) -> tuple[str, Any]:
        vocabulary = isinstance(builder.entry(self.name), Vocabulary)
        return ("vocabulary" if vocabulary else "hash"), builder.index(self.name)

    def attribute_labels(self, entry) -> list[str]:
        return vocabulary_labels(entry, "unseen or rare value (out of vocabulary)")

    def tree_codes(self, entry) -> list[str]:
        """Names of the codes a GBDT's categorical splits list: vocabulary positions, or hash buckets."""
        labels = self.attribute_labels(entry)
        return labels if isinstance(entry, HashBuckets) else labels[1:]

    def tabular(self, values: np.ndarray, entry) -> dict[str, Any]:
        """A pandas categorical over the training vocabulary (an unseen value is missing to the trees)."""
        if isinstance(entry, Vocabulary):
            known = np.isin(values, entry.values)
            return {self.name: pd.Categorical(np.where(known, values, None), categories=list(entry.values))}
        return {self.name: pd.Categorical(values)}
