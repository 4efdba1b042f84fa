"""The column kinds: one module each, with the kind's whole behaviour (see `base.Column`), and this registry.

Adding a kind is one new module and one line in `KINDS`: the spec parser, the fitting, the preprocessor, the
scorecard, the quality report and the fitted-state JSON all loop over these.
"""

from __future__ import annotations

from typing import Any

from feature_columns.errors import DataError
from feature_columns.kinds.base import Column, FittedEntry
from feature_columns.kinds.boolean import BooleanColumn
from feature_columns.kinds.bucketized import BucketizedColumn
from feature_columns.kinds.categorical import CategoricalColumn
from feature_columns.kinds.crossed import CrossedColumn, ProposedCrosses
from feature_columns.kinds.numeric import NumericColumn
from feature_columns.kinds.sequence import SequenceChoice, SequenceColumn
from feature_columns.terms import Terms
from feature_columns.trees import Trees

KINDS: tuple[type[Column], ...] = (
    CategoricalColumn,
    NumericColumn,
    BucketizedColumn,
    CrossedColumn,
    SequenceColumn,
    BooleanColumn,
)
SECTIONS = ("columns", "crosses", "sequences")  # the spec's column sections, in the order a spec lists them


def kinds_in(section: str) -> dict[str, type[Column]]:
    """The kinds declared in a spec section, by their name (a `columns:` entry's `type`)."""
    return {kind.kind: kind for kind in KINDS if kind.section == section}


# every type of fitted entry, by the JSON key only it has (a GBDT's trees and proposed crosses are the state of
# no column)
ENTRY_TYPES: dict[str, type] = {entry.json_key: entry for kind in KINDS for entry in kind.entries} | {
    Trees.json_key: Trees,
    Terms.json_key: Terms,
    ProposedCrosses.json_key: ProposedCrosses,
    SequenceChoice.json_key: SequenceChoice,
}


def entry_from_json(name: str, data: dict[str, Any]) -> FittedEntry:
    """The typed entry a saved column state describes (the JSON has no kind field: its keys tell)."""
    for key, entry in ENTRY_TYPES.items():
        if key in data:
            return entry.from_json(data)
    raise DataError(f"preprocessing state of column '{name}' is not recognised: {sorted(data)}")


__all__ = [
    "KINDS",
    "SECTIONS",
    "ENTRY_TYPES",
    "BucketizedColumn",
    "CategoricalColumn",
    "Column",
    "CrossedColumn",
    "FittedEntry",
    "NumericColumn",
    "SequenceColumn",
    "entry_from_json",
    "kinds_in",
]
