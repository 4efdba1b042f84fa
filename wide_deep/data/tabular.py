"""Prepared model inputs as a pandas frame for tree models (LightGBM): the baselines, the fairness proxy test.

Each column gives its own columns (`Column.tabular`): a categorical becomes a pandas categorical over the
training vocabulary (an unseen or hashed value is missing to the trees); numeric and bucketized columns stay
float32; a sequence becomes one column per step and channel.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_columns.fitting import FittedState


def tree_frame(spec, state: FittedState, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    columns = {}
    for col in spec.input_columns:
        columns.update(col.tabular(arrays[col.name], state.get(col.name)))
    return pd.DataFrame(columns)
