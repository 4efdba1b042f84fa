"""Compile a `ModelSpec` plus its fitted state into the Keras preprocessing model.

`build_preprocessor` returns a Keras model from raw named features (strings for text columns, float32 for
numbers) to the encoded tensors the branches consume:

- `wide_ids`  int64 [B, K]: one index per wide indexed column (categorical, bucketized, crossed, ...), offset
  into a single shared table so the wide branch is one embedding lookup (equivalent to one-hot vectors
  concatenated into a Dense(1)); with a GBDT, one more per tree (its leaf);
- `wide_dense` float32 [B, Dw]: numeric columns routed to the linear branch (their encoding);
- `deep_dense` float32 [B, Dd]: numeric encodings, missing indicators and one-hot indicators;
- `deep_ids_<column>` int64 [B]: indices of columns the deep branch embeds;
- `deep_sequence_<name>` float32 [B, T, C + 1]: a sequence's channels, encoded, with a last channel
  that is 1 where the step was observed and 0 where it is masked;
- `unseen_categories` string [B] (serving only): see `build_preprocessor(report_unseen=True)`.

Each column compiles itself (`Column.compile_index`, then `Column.compile`, in the spec's order) through a
`PreprocessorBuilder`, which collects the parts and lays them out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras

from feature_columns.fitting import GBDT, FittedState
from feature_columns.layers import UNSEEN_OUTPUT, ConcatColumns, NumericBlock, OffsetStack, UnseenCategoryNames
from feature_columns.names import argument_name, raw_names_as_keys, safe_name
from feature_columns.spec import ModelSpec
from feature_columns.terms import Terms
from feature_columns.tree_layers import TermCells, TreeInputs, TreeLeaves
from feature_columns.trees import Trees


@dataclasses.dataclass(frozen=True)
class WideSegment:
    """Rows [offset, offset + size) of the wide table belong to one column; row offset+0 is its OOV/missing bucket.

    An `ordered` segment (a numeric column's bins) holds its ranges in order instead, lowest first, and its
    missing bucket last; its adjacent rows are the steps `EncodedLayout.ordered_steps` lists. A GBDT tree's
    segment (`tree` set) has one row per leaf.
    """

    name: str
    offset: int
    size: int
    tree: int | None = None
    ordered: bool = False

    @property
    def chain(self) -> range:
        """An ordered segment's ranges in order (its rows without the missing bucket); empty for the others."""
        return range(self.offset, self.offset + self.size - 1) if self.ordered else range(0)


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
    def column_rows(self) -> int:
        """How many rows of the wide table belong to the spec's columns (a GBDT's leaves, if any, follow them)."""
        return sum(segment.size for segment in self.wide_segments[: self.column_segments])

    def ordered_steps(self) -> tuple[tuple[int, int], ...]:
        """(lower, upper) rows of every pair of adjacent ranges of the ordered segments: the steps the wide
        branch's smoothness penalty falls on (`wide_deep.core.model.StepL2`)."""
        return tuple((row, row + 1) for segment in self.wide_segments for row in segment.chain[:-1])

    @property
    def has_wide(self) -> bool:
        return bool(self.wide_segments or self.wide_dense_names)

    @property
    def has_deep(self) -> bool:
        return bool(self.deep_dense_names or self.deep_embeddings or self.sequences)


def raw_inputs(spec: ModelSpec) -> dict[str, keras.KerasTensor]:
    """One Keras input per raw feature, of its kind's dtype and shape per row."""
    return {
        c.name: keras.Input(shape=c.input_shape, dtype=c.raw_dtype, name=argument_name(c.name))
        for c in spec.input_columns
    }


class PreprocessorBuilder:
    """Collects what the columns compile into (see `feature_columns.kinds.base.Builder`) and lays it out."""

    def __init__(self, spec: ModelSpec, state: FittedState, inputs: dict[str, keras.KerasTensor]):
        self.spec, self.state, self.inputs = spec, state, inputs
        self.indices: dict[str, Any] = {}
        self.wide_ids, self.segments, self.offset = [], [], 0
        self.numeric: dict[str, list] = {"wide": [], "deep": []}  # encoders (applied in runs) and encoded parts
        self.numeric_names: dict[str, list[str]] = {"wide": [], "deep": []}
        self.deep_ids: dict[str, Any] = {}
        self.deep_embeddings: list[tuple[str, int, int]] = []
        self.sequences: dict[str, Any] = {}
        self.sequence_layout: list[tuple[str, int, int]] = []
        self.unseen: list[str] = []

    # --- what the kinds call ------------------------------------------------------------------
    def input(self, name: str):
        return self.inputs[name]

    def index(self, name: str):
        """An indexed column's index tensor, compiled on first use."""
        if name not in self.indices:
            self.indices[name] = self.spec.column(name).compile_index(self)
        return self.indices[name]

    def column(self, name: str):
        return self.spec.column(name)

    def entry(self, name: str):
        return self.state[name]

    def add_wide_ids(self, name: str, index, size: int, ordered: bool = False) -> None:
        self.wide_ids.append(index)
        self.segments.append(WideSegment(name, self.offset, size, ordered=ordered))
        self.offset += size

    def add_deep_ids(self, name: str, index, size: int, dim: int) -> None:
        self.deep_ids[name] = index
        self.deep_embeddings.append((name, size, dim))

    def add_deep_dense(self, tensor, names: list[str]) -> None:
        self.numeric["deep"].append(tensor)
        self.numeric_names["deep"].extend(names)

    def add_numeric(self, branch: str, encoder, value, names: list[str]) -> None:
        """An encoder of one column for `branch`, applied later with its neighbours (`_encode_numeric_runs`)."""
        self.numeric[branch].append((encoder, value))
        self.numeric_names[branch].extend(names)

    def add_sequence(self, name: str, tensor, steps: int, width: int) -> None:
        self.sequences[name] = tensor
        self.sequence_layout.append((name, steps, width))

    def track_unseen(self, name: str) -> None:
        self.unseen.append(name)

    # --- building -----------------------------------------------------------------------------
    def compile_columns(self) -> None:
        """Every column's index first (crosses read their keys' indices), then each column's parts in spec order."""
        for column in (*self.spec.input_columns, *self.spec.crosses):
            self.index(column.name)
        for column in self.spec.columns:
            column.compile(self)

    def add_trees(self, trees: Trees | Terms) -> None:
        """The trees' leaves (or compiled terms' cells), one wide column per tree (term), after every other wide
        column."""
        matrix = self.tree_matrix(trees.columns)[0]
        if isinstance(trees, Terms):
            self.wide_ids.append(TermCells(trees, name="gbdt_terms")(matrix))
            names = [f"boosted {trees.term_name(t)}" for t in range(len(trees.trees))]
        else:
            self.wide_ids.append(TreeLeaves(trees, name="gbdt_leaves")(matrix))
            names = [f"gbdt_tree_{t}" for t in range(len(trees.trees))]
        for t, (tree, name) in enumerate(zip(trees.trees, names)):
            self.segments.append(WideSegment(name, self.offset, tree.num_leaves, tree=t))
            self.offset += tree.num_leaves

    def tree_matrix(self, columns) -> tuple[Any, list[str]]:
        """(the [B, F] float32 matrix a GBDT reads over `columns`, how it reads each: "vocabulary", "hash" or
        "number"; see `feature_columns.tree_layers.TreeInputs`)."""
        kinds, parts = zip(*(self.spec.column(name).tree_feature(self) for name in columns))
        return TreeInputs(list(kinds), name="gbdt_inputs")(list(parts)), list(kinds)

    def outputs(self, report_unseen: bool) -> dict[str, Any]:
        wide_dense = _encode_numeric_runs(self.numeric["wide"], "wide")
        deep_dense = _encode_numeric_runs(self.numeric["deep"], "deep")
        outputs: dict[str, Any] = {}
        if self.wide_ids:
            outputs["wide_ids"] = OffsetStack([s.offset for s in self.segments], name="wide_ids")(self.wide_ids)
        if wide_dense:
            outputs["wide_dense"] = ConcatColumns(name="wide_dense")(wide_dense)
        if deep_dense:
            outputs["deep_dense"] = ConcatColumns(name="deep_dense")(deep_dense)
        for name, idx in self.deep_ids.items():
            outputs[f"deep_ids_{safe_name(name)}"] = idx
        for name, encoded in self.sequences.items():
            outputs[f"deep_sequence_{safe_name(name)}"] = encoded
        if report_unseen and self.unseen:
            outputs[UNSEEN_OUTPUT] = UnseenCategoryNames(self.unseen, name=UNSEEN_OUTPUT)(
                [(self.indices[n], self.inputs[n]) for n in self.unseen]
            )
        return outputs

    def layout(self) -> EncodedLayout:
        return EncodedLayout(
            tuple(self.segments),
            tuple(self.numeric_names["wide"]),
            tuple(self.numeric_names["deep"]),
            tuple(self.deep_embeddings),
            tuple(self.sequence_layout),
        )


def _encode_numeric_runs(parts: list, prefix: str) -> list:
    """Apply the numeric encoders in `parts`, each run of adjacent single-output ones as one NumericBlock
    (the column order, and so the encoded layout, is unchanged); parts already encoded pass through."""
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
    builder = PreprocessorBuilder(spec, state, inputs)
    builder.compile_columns()
    if spec.gbdt:
        builder.add_trees(state[GBDT])
    with raw_names_as_keys():
        model = keras.Model(inputs, builder.outputs(report_unseen), name="preprocessor")
    return model, builder.layout()


def tree_input_model(spec: ModelSpec, state: FittedState, columns: list[str]) -> tuple[keras.Model, list[bool]]:
    """(raw features → the GBDT's input matrix over `columns`, which of them are categorical): what LightGBM is
    fitted on, built from the same layers the model evaluates its trees on."""
    inputs = {name: tensor for name, tensor in raw_inputs(spec).items() if name in columns}
    matrix, kinds = PreprocessorBuilder(spec, state, inputs).tree_matrix(columns)
    with raw_names_as_keys():
        model = keras.Model(inputs, matrix, name="gbdt_inputs")
    return model, [kind != "number" for kind in kinds]
