"""What a column kind is: the protocol the spec, the fitting, the preprocessor, the scorecard and the quality report
call, and the behaviour most kinds share.

A kind is one module of `feature_columns.kinds` holding a frozen dataclass (the column as the spec declares it)
that subclasses `Column`, and the fitted entries it produces (`FittedEntry`: typed, saved as JSON). The registry
(`feature_columns.kinds.KINDS`) lists the kinds; everything else loops over a spec's columns and calls them:

- the spec:      `from_dict` / `to_dict` (its YAML form), `source_columns`, `crossable`;
- the data:      `raw_dtype`, `input_shape`, `data_columns`, `prepare` (raw cells → the model input's array);
- the fitting:   `fit` (training rows → its `FittedEntry`), `quality` (imputed and out-of-vocabulary counts);
- the model:     `compile_index` and `compile` (Keras layers, through the `Builder` of
                 `feature_columns.preprocessor`), `tree_feature` (what a GBDT reads of it);
- the evidence:  `scorecard_type`, `attribute_labels` (a wide column's rows in the scorecard), `tabular`.

Nothing here imports TensorFlow: a kind's `compile` imports `feature_columns.layers` when a model is built.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any, ClassVar, Protocol

import numpy as np
import pandas as pd

from feature_columns.errors import DataError, SpecError
from feature_columns.names import safe_name
from feature_columns.values import CROSS_SEPARATOR, MISSING_CATEGORY, canonical_categories, numeric_values

ROUTES = ("wide", "deep", "both")
DEEP_CATEGORICAL_ENCODINGS = ("embedding", "indicator")


def check_choice(column: str, field: str, value, choices) -> None:
    if value not in choices:
        raise SpecError(f"column '{column}': {field}={value!r} is not one of {list(choices)}")


def check_positive_int(column: str, field: str, value, allow_none=True) -> None:
    if value is None and allow_none:
        return
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"column '{column}': {field} must be a positive integer, got {value!r}")


def auto_embedding_dim(vocabulary_size: int) -> int:
    """Embedding width from the vocabulary size (fast.ai's rule of thumb, capped at 16)."""
    return int(max(2, min(16, round(1.6 * max(vocabulary_size, 1) ** 0.56))))


# --- fitted entries ------------------------------------------------------------------------------


class FittedEntry(Protocol):
    """What a column's state fitted on the training split is: typed, and saved as JSON whose keys tell its type
    (`json_key` is the key only its JSON has; the format is unchanged since version 1)."""

    json_key: ClassVar[str]

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FittedEntry: ...


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """Index 0 is the out-of-vocabulary (and missing) bucket; value i is index i + 1."""

    json_key = "vocabulary"
    values: tuple[str, ...]

    @property
    def cardinality(self) -> int:
        return len(self.values) + 1

    def to_json(self) -> dict[str, Any]:
        return {"vocabulary": list(self.values)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Vocabulary:
        return cls(tuple(data["vocabulary"]))


@dataclasses.dataclass(frozen=True)
class HashBuckets:
    json_key = "hash_buckets"
    count: int

    @property
    def cardinality(self) -> int:
        return int(self.count)

    def to_json(self) -> dict[str, Any]:
        return {"hash_buckets": self.count}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HashBuckets:
        return cls(int(data["hash_buckets"]))


def fit_vocabulary(values: np.ndarray, min_frequency: int, max_tokens: int | None) -> tuple[str, ...]:
    """The values seen at least `min_frequency` times (missing excluded), most frequent first, at most `max_tokens`."""
    counts = Counter(v for v in values if v != MISSING_CATEGORY)
    ranked = sorted(((n, v) for v, n in counts.items() if n >= min_frequency), key=lambda t: (-t[0], t[1]))
    if max_tokens is not None:
        ranked = ranked[:max_tokens]
    return tuple(v for _, v in ranked)


def vocabulary_labels(entry: Vocabulary | HashBuckets, other: str) -> list[str]:
    """Scorecard labels of an indexed column's rows: the out-of-vocabulary row named `other`, then the values (a
    cross's joined keys read `a × b`)."""
    if isinstance(entry, HashBuckets):
        return [f"hash bucket {i}" for i in range(entry.count)]
    values = ["(missing)" if v == MISSING_CATEGORY else v.replace(CROSS_SEPARATOR, " × ") for v in entry.values]
    return [other, *values]


def out_of_vocabulary_counts(values: np.ndarray, entry, oov_key: str, count_missing: bool) -> dict[str, int]:
    """How many `values` fall in a vocabulary's out-of-vocabulary bucket: missing ones (`count_missing`) and the
    rest under `oov_key`. Nothing for hashed columns, whose every value has a bucket."""
    if not isinstance(entry, Vocabulary):
        return {}
    known = set(entry.values)
    missing = int(sum(1 for v in values if v == MISSING_CATEGORY)) if count_missing else 0
    oov = int(sum(1 for v in values if v not in known)) - missing
    return {k: v for k, v in (("missing_to_oov", missing), (oov_key, oov)) if v}


# --- what a kind's `compile` builds with --------------------------------------------------------


class Builder(Protocol):
    """What the preprocessor builder (`feature_columns.preprocessor`) offers a kind's `compile_index` / `compile`."""

    def input(self, name: str): ...  # the raw Keras input of a data column

    def index(self, name: str): ...  # the index tensor `compile_index` gave an indexed column

    def column(self, name: str) -> Column: ...

    def entry(self, name: str): ...  # the column's fitted entry

    def add_wide_ids(self, name: str, index, size: int, ordered: bool = False) -> None: ...

    def add_deep_ids(self, name: str, index, size: int, dim: int) -> None: ...

    def add_deep_dense(self, tensor, names: list[str]) -> None: ...

    def add_numeric(self, branch: str, encoder, value, names: list[str]) -> None: ...

    def add_sequence(self, name: str, tensor, steps: int, width: int) -> None: ...

    def track_unseen(self, name: str) -> None: ...  # report this column's out-of-vocabulary values when serving


# --- the kinds' base ------------------------------------------------------------------------------


class Column:
    """The base of every column kind (each a frozen dataclass with at least `name`, `route` and `protected`)."""

    kind: ClassVar[str]  # the spec's `type:` for kinds in the `columns:` section; the kind's name otherwise
    section: ClassVar[str] = "columns"  # the spec section it is declared in: columns | crosses | sequences
    raw_dtype: ClassVar[str] = "float32"  # of its raw model input: "string" or "float32" (NaN: missing)
    reads_data: ClassVar[bool] = True  # a raw model input read from the data (a cross is built from others)
    crossable: ClassVar[bool] = False  # may be a key of a cross
    entries: ClassVar[tuple[type, ...]] = ()  # the FittedEntry types its `fit` returns
    scorecard_type: ClassVar[str] = ""  # its characteristic's type in the scorecard (wide columns)

    name: str
    route: str
    protected: bool

    # --- the spec -----------------------------------------------------------------------------
    @property
    def source_columns(self) -> tuple[str, ...]:
        """The spec's columns (or data columns) it is computed from."""
        return (self.name,)

    @classmethod
    def from_dict(cls, entry: dict[str, Any], where: str, context: dict[str, Any]) -> Column:
        """The column a spec entry declares (`entry` without its `type`); `context` holds what the spec knows
        beyond the entry (e.g. `window_days` of its transactions block)."""
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = set(entry) - allowed
        if unknown:
            raise SpecError(
                f"{where} ('{entry.get('name', entry.get('keys'))}'): unknown field(s) {sorted(unknown)} for a "
                f"{cls.kind} column; allowed: {sorted(allowed)}"
            )
        cls.check_entry(entry, where)
        try:
            return cls(**_checked_fields(cls, dict(entry), where))
        except TypeError as err:
            raise SpecError(f"{where}: {err}") from None

    @classmethod
    def check_entry(cls, entry: dict[str, Any], where: str) -> None:
        """What a spec entry of this kind must give before anything else is checked."""
        if not entry.get("name"):
            raise SpecError(f"{where}: missing 'name'")

    def to_dict(self) -> dict[str, Any]:
        """Its spec entry: name and type, then every field that differs from its default."""
        return {"name": self.name, "type": self.kind, **self._changed_fields(("name",))}

    def _changed_fields(self, skip: tuple[str, ...]) -> dict[str, Any]:
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name not in skip and value != field.default:
                out[field.name] = list(value) if isinstance(value, tuple) else value
        return out

    def routed(self, route: str) -> Column:
        """This column sent to `route` (how a wide-only or deep-only model routes every column)."""
        return dataclasses.replace(self, route=route)

    def numbers_encoded(self, encoding: str) -> Column:
        """This column with its numbers encoded as `encoding` for the deep branch (a numeric column's concern)."""
        return self

    def in_scorecard(self) -> Column:
        """This column with a readable characteristic in the wide branch too (a full scorecard): a deep-only
        column is routed to both branches."""
        return self.routed("both") if self.route == "deep" else self

    # --- the data -----------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, ...]:
        """Its raw model input's shape per row."""
        return ()

    @property
    def is_scalar(self) -> bool:
        return self.input_shape == ()

    @property
    def data_columns(self) -> tuple[str, ...]:
        """The data columns its model input is read from."""
        return (self.name,)

    def prepare(self, frame: pd.DataFrame, source: str, row_offset: int = 0) -> np.ndarray:
        """Its raw cells → the array its model input takes (object strings or float32), errors naming the row."""
        if self.raw_dtype == "string":
            return canonical_categories(frame[self.name])
        return numeric_values(frame[self.name], self.name, source, row_offset)

    # --- the fitting --------------------------------------------------------------------------
    def fit(self, arrays: dict[str, np.ndarray], state: dict, spec) -> FittedEntry:
        """Its state learned from the training rows (`state`: the entries fitted before it)."""
        raise NotImplementedError

    def quality(self, arrays: dict[str, np.ndarray], state: dict, spec, fitted_here: bool) -> dict[str, int]:
        """What happened to its values on these rows that the user should know (imputed, out of vocabulary)."""
        return {}

    # --- the model ----------------------------------------------------------------------------
    def compile_index(self, builder: Builder):
        """The integer index tensor of an indexed column (None for the others), built before any routing."""
        return None

    def compile(self, builder: Builder) -> None:
        """Add its encoded parts to the wide and deep branches."""
        raise NotImplementedError

    def tree_feature(self, builder: Builder) -> tuple[str, Any]:
        """(how a GBDT reads it, the tensor): "number" (the raw value) unless a kind says otherwise."""
        return "number", builder.input(self.name)

    # --- the evidence -------------------------------------------------------------------------
    def attribute_labels(self, entry) -> list[str]:
        """A readable label for every row of its wide segment."""
        raise NotImplementedError(f"a {self.kind} column has no wide segment")

    def tabular(self, values: np.ndarray, entry) -> dict[str, Any]:
        """Its prepared values as columns of a frame for tree models (`wide_deep.data.tabular`)."""
        return {self.name: values}


def checked_meanings(name: str, meanings) -> tuple[tuple[str, str], ...] | None:
    """A column's `meanings` (what its codes stand for, e.g. {1: married, 2: single}: read in fairness group
    labels) as (code, meaning) pairs, from a mapping or from pairs as `to_dict` writes them."""
    if meanings is None:
        return None
    pairs = meanings.items() if isinstance(meanings, dict) else meanings
    try:
        out = tuple((_code_text(code), str(meaning)) for code, meaning in pairs)
    except (TypeError, ValueError):
        raise SpecError(
            f"column '{name}': meanings must map each code to what it means, e.g. {{1: married, 2: single}}; "
            f"got {meanings!r}"
        ) from None
    if len({code for code, _ in out}) != len(out):
        raise SpecError(f"column '{name}': meanings lists a code twice")
    return out


def _code_text(code) -> str:
    """A code as the data's canonical text: 1, 1.0 and "1" alike."""
    if isinstance(code, bool):
        raise ValueError(code)
    if isinstance(code, float) and code.is_integer():
        return str(int(code))
    return str(code)


def _checked_fields(cls, entry: dict[str, Any], where: str) -> dict[str, Any]:
    """Spec values checked and converted where YAML gives another type: booleans must be booleans, lists of
    vocabulary, boundaries and keys become tuples."""
    for field in dataclasses.fields(cls):
        if isinstance(field.default, bool) and field.name in entry and not isinstance(entry[field.name], bool):
            raise SpecError(f"{where}: '{field.name}' must be true or false, got {entry[field.name]!r}")
    for field in ("vocabulary", "boundaries", "keys"):
        if field in entry and entry[field] is not None:
            if not isinstance(entry[field], (list, tuple)):
                raise SpecError(f"{where}: '{field}' must be a list, got {entry[field]!r}")
            entry[field] = tuple(entry[field])
    return entry


class IndexedColumn(Column):
    """A column that becomes one integer index per row (categorical, bucketized, crossed, boolean): in the wide
    branch one weight per index (a scorecard characteristic), in the deep branch an embedding or a one-hot
    vector. Subclasses have `deep_encoding` and `embedding_dim` fields."""

    deep_encoding: str
    embedding_dim: int | None

    def check_indexed(self) -> None:
        check_choice(self.name, "route", self.route, ROUTES)
        check_choice(self.name, "deep_encoding", self.deep_encoding, DEEP_CATEGORICAL_ENCODINGS)
        check_positive_int(self.name, "embedding_dim", self.embedding_dim)

    def compile(self, builder: Builder) -> None:
        index, size = builder.index(self.name), builder.entry(self.name).cardinality
        if self.route in ("wide", "both"):
            builder.add_wide_ids(self.name, index, size)
        if self.route in ("deep", "both"):
            if self.deep_encoding == "indicator":
                from feature_columns import layers

                onehot = layers.OneHot(size, name=f"onehot_{safe_name(self.name)}")(index)
                builder.add_deep_dense(onehot, [f"{self.name}={i}" for i in range(size)])
            else:
                builder.add_deep_ids(self.name, index, size, self.embedding_dim or auto_embedding_dim(size))


def index_layer(name: str, entry: Vocabulary | HashBuckets):
    """The Keras layer from strings to an index: a vocabulary lookup (index 0: out of vocabulary) or hashing."""
    import keras

    safe = safe_name(name)
    if isinstance(entry, HashBuckets):
        return keras.layers.Hashing(num_bins=entry.count, name=f"hash_{safe}")
    return keras.layers.StringLookup(
        vocabulary=list(entry.values), num_oov_indices=1, mask_token=None, output_mode="int", name=f"lookup_{safe}"
    )


def require_values(values: np.ndarray, what: str) -> np.ndarray:
    """The training split's non-missing numbers of a column, as float64; a DataError when there are none."""
    present = values[~np.isnan(values)].astype("float64")
    if present.size == 0:
        raise DataError(f"training split: {what} has no non-missing values")
    return present
