"""Crossed columns: the conjunction of two or more categorical or bucketized columns (e.g. city x industry).

Default: a vocabulary of the combinations seen at least `min_frequency` times in the training split
(auditable, one weight per combination); or `hash_buckets` as in `tf.feature_column.crossed_column`. The keys'
values are joined with `CROSS_SEPARATOR`, the same way in NumPy (`cross_values`) and in the graph (`JoinKeys`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from feature_columns.errors import SpecError
from feature_columns.kinds.base import (
    Builder,
    HashBuckets,
    IndexedColumn,
    Vocabulary,
    check_positive_int,
    fit_vocabulary,
    index_layer,
    out_of_vocabulary_counts,
    vocabulary_labels,
)
from feature_columns.names import CROSS_NAME, safe_name
from feature_columns.values import CROSS_SEPARATOR


@dataclasses.dataclass(frozen=True)
class CrossedColumn(IndexedColumn):
    """The conjunction of two or more crossable columns (see the module docstring)."""

    kind = "crossed"
    section = "crosses"
    reads_data = False
    entries = (Vocabulary, HashBuckets)
    scorecard_type = "cross"
    protected = False

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
        self.check_indexed()
        check_positive_int(self.name, "hash_buckets", self.hash_buckets)
        check_positive_int(self.name, "min_frequency", self.min_frequency, allow_none=False)

    @property
    def source_columns(self) -> tuple[str, ...]:
        return self.keys

    @classmethod
    def from_dict(cls, entry: dict[str, Any], where: str, context: dict[str, Any]) -> CrossedColumn:
        return super().from_dict({k: v for k, v in entry.items() if k != "type"}, where, context)

    @classmethod
    def check_entry(cls, entry: dict[str, Any], where: str) -> None:
        if not entry.get("keys"):
            raise SpecError(f"{where}: a cross needs 'keys', e.g. keys: [city, industry]")

    def to_dict(self) -> dict[str, Any]:
        return {"keys": list(self.keys), **self._changed_fields(("name", "keys"))}

    def joined(self, arrays: dict[str, np.ndarray], state: dict, spec) -> np.ndarray:
        """The keys' values joined per row, exactly as the in-model `JoinKeys` layer joins them."""
        parts = [spec.column(key).cross_values(arrays[key], state.get(key)) for key in self.keys]
        joined = parts[0].astype(object)
        for part in parts[1:]:
            joined = joined + CROSS_SEPARATOR + part.astype(object)
        return joined

    def fit(self, arrays: dict[str, np.ndarray], state: dict, spec) -> Vocabulary | HashBuckets:
        if self.hash_buckets is not None:
            return HashBuckets(self.hash_buckets)
        return Vocabulary(fit_vocabulary(self.joined(arrays, state, spec), self.min_frequency, None))

    def quality(self, arrays: dict[str, np.ndarray], state: dict, spec, fitted_here: bool) -> dict[str, int]:
        """Combinations outside the vocabulary: `rare_to_oov` on the rows it was fitted on, `unseen_to_oov` else."""
        entry = state[self.name]
        if not isinstance(entry, Vocabulary):
            return {}
        oov_key = "rare_to_oov" if fitted_here else "unseen_to_oov"
        return out_of_vocabulary_counts(self.joined(arrays, state, spec), entry, oov_key, count_missing=False)

    def compile_index(self, builder: Builder):
        from feature_columns import layers

        parts = [builder.column(key).cross_part(builder) for key in self.keys]
        joined = layers.JoinKeys(name=f"join_{safe_name(self.name)}")(parts)
        return index_layer(self.name, builder.entry(self.name))(joined)

    def attribute_labels(self, entry) -> list[str]:
        return vocabulary_labels(entry, "other combinations (unseen or rare in training)")


@dataclasses.dataclass(frozen=True)
class ProposedCrosses:
    """Crosses a run proposed from its training data (pairs of features the additive scorecard misses): kept in
    the fitted state, under `feature_columns.fitting.PROPOSED_CROSSES`, so that the model can be routed again."""

    json_key = "proposed_crosses"
    crosses: tuple[CrossedColumn, ...]

    def to_json(self) -> dict[str, Any]:
        return {"proposed_crosses": [c.to_dict() for c in self.crosses]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProposedCrosses:
        return cls(
            tuple(
                CrossedColumn.from_dict(entry, f"proposed_crosses[{i}]", {})
                for i, entry in enumerate(data["proposed_crosses"])
            )
        )
