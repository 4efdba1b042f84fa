"""Boolean columns: yes/no flags (a verified account, a guarantor, a registered telephone) as three attributes.

The data may spell them as booleans, 1/0, or text: `true_values` and `false_values` list the spellings (each also
accepted in upper case and capitalised); a missing cell is missing. In the model a row's value becomes an index:
0 for missing (or, over REST, a spelling the column does not list, which the export reports as unseen), 1 for
false, 2 for true: in the wide branch a characteristic of three attributes, in the deep branch a one-hot vector
by default. Batch data with a spelling the column does not list is refused, naming the column, the row and the
spellings it accepts. A GBDT reads it as a category (0 false, 1 true, missing).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from feature_columns.errors import DataError, SpecError, data_row
from feature_columns.kinds.base import Builder, IndexedColumn, Vocabulary, index_layer
from feature_columns.names import safe_name
from feature_columns.values import MISSING_CATEGORY, canonical_categories

DEFAULT_TRUE = ("true", "yes", "y", "t", "1")
DEFAULT_FALSE = ("false", "no", "n", "f", "0")
LABELS = ("(missing)", "false", "true")  # the attributes, by index


def spellings(values: tuple[str, ...]) -> tuple[str, ...]:
    """The accepted spellings of `values`: each as written, in lower and upper case, and capitalised."""
    return tuple(dict.fromkeys(form for v in values for form in (v, v.lower(), v.upper(), v.capitalize())))


@dataclasses.dataclass(frozen=True)
class BooleanColumn(IndexedColumn):
    """A yes/no column (see the module docstring)."""

    kind = "boolean"
    raw_dtype = "string"
    crossable = True
    entries = (Vocabulary,)
    scorecard_type = "boolean"

    name: str
    true_values: tuple[str, ...] = DEFAULT_TRUE
    false_values: tuple[str, ...] = DEFAULT_FALSE
    route: str = "wide"
    deep_encoding: str = "indicator"
    embedding_dim: int | None = None
    protected: bool = False

    def __post_init__(self):
        self.check_indexed()
        for field in ("true_values", "false_values"):
            values = getattr(self, field)
            if isinstance(values, str) or not values:
                raise SpecError(f"column '{self.name}': {field} must be a non-empty list of spellings, got {values!r}")
            object.__setattr__(self, field, tuple(str(v) for v in values))
        both = set(spellings(self.true_values)) & set(spellings(self.false_values))
        if both:
            raise SpecError(f"column '{self.name}': {sorted(both)} are listed as both true and false")

    @property
    def vocabulary(self) -> tuple[str, ...]:
        """Every accepted spelling, false ones first: a lookup's index 1..F is false, F+1.. true, 0 neither."""
        return (*spellings(self.false_values), *spellings(self.true_values))

    def prepare(self, frame: pd.DataFrame, source: str, row_offset: int = 0) -> np.ndarray:
        values = canonical_categories(frame[self.name])
        unknown = np.flatnonzero(~np.isin(values, (*self.vocabulary, MISSING_CATEGORY)))
        if unknown.size:
            first = int(unknown[0])
            raise DataError(
                f"{source}: column '{self.name}' is boolean in the spec but {data_row(first + row_offset)} holds "
                f"{frame[self.name].iloc[first]!r} ({unknown.size} such value(s) in all); expected one of "
                f"{list(self.true_values)} (true), {list(self.false_values)} (false) or an empty cell"
            )
        return values

    def fit(self, arrays: dict[str, np.ndarray], state: dict, spec) -> Vocabulary:
        """Nothing to learn: the attributes are fixed (missing, false, true)."""
        return Vocabulary(LABELS[1:])

    def quality(self, arrays: dict[str, np.ndarray], state: dict, spec, fitted_here: bool) -> dict[str, int]:
        missing = int((arrays[self.name] == MISSING_CATEGORY).sum())
        return {"missing_to_oov": missing} if missing else {}

    def truth(self, values: np.ndarray) -> np.ndarray:
        """0 false, 1 true, NaN missing."""
        out = np.full(len(values), np.nan)
        out[np.isin(values, spellings(self.false_values))] = 0.0
        out[np.isin(values, spellings(self.true_values))] = 1.0
        return out

    def cross_values(self, values: np.ndarray, entry) -> np.ndarray:
        """What a cross joins of this column: its index (0 missing, 1 false, 2 true), as text."""
        return np.nan_to_num(self.truth(values) + 1, nan=0.0).astype("int64").astype(str)

    def compile_index(self, builder: Builder):
        from feature_columns import layers

        builder.track_unseen(self.name)
        spelled = index_layer(self.name, Vocabulary(self.vocabulary))(builder.input(self.name))
        false_count = len(spellings(self.false_values))
        return layers.Bucketize([1, false_count + 1], name=f"boolean_{safe_name(self.name)}")(spelled)

    def cross_part(self, builder: Builder):
        return builder.index(self.name)

    def tree_feature(self, builder: Builder) -> tuple[str, Any]:
        return "vocabulary", builder.index(self.name)

    def tree_codes(self, entry) -> list[str]:
        return list(LABELS[1:])

    def attribute_labels(self, entry) -> list[str]:
        return list(LABELS)

    def tabular(self, values: np.ndarray, entry) -> dict[str, Any]:
        return {self.name: self.truth(values)}
