"""Fit a spec's state on the training split, and save it.

The fitted state maps each column to the typed entry its kind's `fit` returns (`feature_columns.kinds`): a
`Vocabulary` or `HashBuckets` (categorical columns and crosses), `NumericStats`, `Buckets`, `SequenceStats`; and,
under the key `GBDT`, the gradient-boosted trees of a GBDT wide branch (`Trees`) or, for a GA2M, their compiled
tables (`Terms`). It is saved as plain JSON
(`save_state`/`load_state`; the format is unchanged since version 1) beside the spec, and the same state builds
the Keras layers for training, evaluation and the exported model. Under `PROPOSED_CROSSES`, the crosses a run
proposed (`ProposedCrosses`) and, under their own names, those crosses' vocabularies; under `SEQUENCE_CHOICE`,
whether the declared sequences got a tower (`SequenceChoice`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from feature_columns.errors import DataError
from feature_columns.kinds import FittedEntry, entry_from_json

STATE_VERSION = 1
GBDT = "__gbdt__"  # the state key of the gradient-boosted trees of a model with a GBDT wide branch
PROPOSED_CROSSES = "__proposed_crosses__"  # the state key of the crosses a run proposed (`ProposedCrosses`)
SEQUENCE_CHOICE = "__sequence_choice__"  # whether `--sequences=auto` gave the declared sequences a tower
STRUCTURE = (
    GBDT,
    PROPOSED_CROSSES,
    SEQUENCE_CHOICE,
)  # keys of what a run learned of its model's structure, not of the spec

FittedState = dict[str, FittedEntry]


def fit_state(spec, train: dict[str, np.ndarray]) -> FittedState:
    """Learn everything data-dependent from the training split only: the columns read from the data first, then
    those built from them (crosses)."""
    state: FittedState = {}
    for column in (*spec.input_columns, *spec.crosses):
        state[column.name] = column.fit(train, state, spec)
    return state


def quality_report(
    spec, state: FittedState, arrays: dict[str, np.ndarray], fitted_here: bool = False
) -> dict[str, dict[str, int]]:
    """Per column, what happened to its values on these rows (imputed, out of vocabulary): nothing is dropped
    silently. `fitted_here`: these are the rows the state was fitted on (rare values, not unseen ones)."""
    report = {column.name: column.quality(arrays, state, spec, fitted_here) for column in spec.columns}
    return {name: counts for name, counts in report.items() if counts}


def state_to_json(state: FittedState) -> str:
    return json.dumps({"version": STATE_VERSION, "columns": {k: v.to_json() for k, v in state.items()}}, indent=1)


def state_from_json(text: str, source: str) -> FittedState:
    data = json.loads(text)
    if data.get("version") != STATE_VERSION:
        raise DataError(f"{source}: preprocessing state version {data.get('version')} is not {STATE_VERSION}")
    return {name: entry_from_json(name, entry) for name, entry in data["columns"].items()}


def save_state(state: FittedState, path: str | Path) -> None:
    Path(path).write_text(state_to_json(state))


def load_state(path: str | Path) -> FittedState:
    return state_from_json(Path(path).read_text(), str(path))
