"""Raw frames → the arrays a model takes, and those arrays → tensors.

Every path that feeds a model (training, batch scoring, REST, the tf.data streams) prepares rows here, each
column by its kind (`Column.prepare`, reading cells through `feature_columns.values`), so a value cannot be
read one way in training and another at serving time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_columns.derived import add_derived
from feature_columns.errors import DataError


def prepare_frame(spec, frame: pd.DataFrame, source: str = "data", row_offset: int = 0) -> dict[str, np.ndarray]:
    """Raw columns → the arrays the model takes: str (object) for text inputs, float32 for numbers ([rows, steps,
    channels] for a sequence).

    Raises DataError naming the column and row for a missing column or text in a numeric column
    (rows counted from `row_offset`: a streamed batch's position in its file).
    """
    frame = add_derived(spec.derived, frame, source, row_offset)
    needed = [name for col in spec.input_columns for name in col.data_columns]
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise DataError(
            f"{source}: column(s) {missing[:20]} named in the spec are missing (found: {list(frame.columns)[:30]})"
        )
    return {col.name: col.prepare(frame, source, row_offset) for col in spec.input_columns}


def to_tensors(arrays: dict[str, np.ndarray]) -> dict:
    """Prepared arrays → tensors: object arrays (text) as tf.string, the rest as they are (float32)."""
    import tensorflow as tf

    return {k: tf.constant(v.tolist(), tf.string) if v.dtype == object else tf.constant(v) for k, v in arrays.items()}
