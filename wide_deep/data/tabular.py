"""Prepared model inputs as a pandas frame for tree models (LightGBM): the baselines, the fairness proxy test.

Categorical columns become pandas categoricals over the training vocabulary (an unseen or
hashed value is missing to the trees); numeric and bucketized columns stay float32; a
sequence becomes one column per step and channel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_columns.columns import CategoricalColumn
from feature_columns.fitting import FittedState, Vocabulary
from feature_columns.sequences import SequenceColumn, log_column_name


def tree_frame(spec, state: FittedState, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    columns = {}
    for col in spec.input_columns:
        values = arrays[col.name]
        if isinstance(col, CategoricalColumn):
            entry = state[col.name]
            if isinstance(entry, Vocabulary):
                known = np.isin(values, entry.values)
                columns[col.name] = pd.Categorical(np.where(known, values, None), categories=list(entry.values))
            else:
                columns[col.name] = pd.Categorical(values)
        elif isinstance(col, SequenceColumn):  # one column per step and channel
            for t in range(col.steps):
                for c, channel in enumerate(col.channels):
                    columns[log_column_name(col.name, channel, t)] = values[:, t, c]
        else:
            columns[col.name] = values
    return pd.DataFrame(columns)
