"""Sequence columns in a spec: both forms, their checks, the YAML round trip and the routing options."""

import numpy as np
import pandas as pd
import pytest

from feature_columns import SpecError
from feature_columns.inputs import prepare_frame
from feature_columns.kinds.sequence import SequenceColumn, log_column_name
from feature_columns.spec import TRANSACTION_FEATURES, FeatureSpec

TRANSACTIONS = {"path": "tx", "id_column": "id", "as_of_column": "as_of", "window_days": 28}


def spec_with(sequences, **extra) -> FeatureSpec:
    return FeatureSpec.from_dict(
        {
            "label": {"column": "y", "positive": [1], "negative": [0]},
            "id": "id",
            "columns": [
                {"name": "a1", "type": "numeric", "route": "both"},
                {"name": "a2", "type": "numeric"},
                {"name": "txn_count", "type": "numeric"},
                {"name": "city", "type": "categorical"},
            ],
            "sequences": sequences,
            **extra,
        }
    )


def test_column_form_reads_the_listed_columns_step_by_step():
    spec = spec_with(
        [
            {
                "name": "monthly",
                "channels": {"bill": ["b1", "b2", "b3"], "paid": ["p1", "p2", "p3"]},
                "log_scaled": ["bill"],
            }
        ]
    )
    (seq,) = spec.sequences
    assert (seq.steps, seq.channels, seq.log_scaled) == (3, ("bill", "paid"), ("bill",))
    assert seq.source_columns == ("b1", "p1", "b2", "p2", "b3", "p3")  # step-major
    frame = pd.DataFrame(
        {
            "a1": [1.0],
            "a2": [2.0],
            "txn_count": [3.0],
            "city": ["x"],
            "b1": [10.0],
            "b2": [20.0],
            "b3": [None],
            "p1": [1.0],
            "p2": [2.0],
            "p3": [3.0],
        }
    )
    values = prepare_frame(spec, frame)["monthly"]
    assert values.shape == (1, 3, 2) and values.dtype == np.float32
    np.testing.assert_array_equal(values[0, :2], [[10, 1], [20, 2]])
    assert np.isnan(values[0, 2, 0]) and values[0, 2, 1] == 3


def test_log_form_generates_its_columns_from_the_window():
    spec = spec_with(
        [{"name": "weekly", "bin_days": 7, "channels": ["inflow_amount", "count"]}], transactions=TRANSACTIONS
    )
    (seq,) = spec.sequences
    assert seq.steps == 4 and seq.bin_days == 7
    assert seq.columns[1] == tuple(log_column_name("weekly", "count", t) for t in range(4))
    assert seq.log_scaled == ("inflow_amount", "count")  # amounts and counts are heavy-tailed
    again = FeatureSpec.from_dict(spec.to_dict())
    assert again.sequences == spec.sequences
    assert FeatureSpec.from_dict(spec_with([{"name": "m", "channels": {"c": ["x1", "x2"]}}]).to_dict()).sequences[
        0
    ] == SequenceColumn("m", ("c",), (("x1", "x2"),))


@pytest.mark.parametrize(
    "entry, extra, message",
    [
        ({"name": "s", "channels": {"a": ["x1", "x2"], "b": ["y1"]}}, {}, "same number"),
        ({"name": "s", "channels": {"a": ["x1"]}}, {}, "≥ 2"),
        ({"name": "s", "bin_days": 7}, {}, "no transactions block"),
        ({"name": "s", "bin_days": 7, "channels": ["balance"]}, {"transactions": TRANSACTIONS}, "unknown channel"),
        ({"name": "s", "bin_days": 30}, {"transactions": TRANSACTIONS}, "fewer than 2 bins"),
        ({"name": "s", "channels": {"a": ["x1", "x2"]}, "log_scaled": ["b"]}, {}, "unknown channel"),
        ({"name": "s", "channels": {"a": ["x1", "y"]}}, {}, "label or id"),
        ({"name": "s", "channels": ["x1", "x2"]}, {}, "mapping of channel"),
        ({"name": "s", "every": 7}, {}, "unknown field"),
    ],
)
def test_mistakes_are_named(entry, extra, message):
    with pytest.raises(SpecError, match=message):
        spec_with([entry], **extra)


def test_routing_options():
    spec = spec_with([{"name": "weekly", "bin_days": 7}], transactions=TRANSACTIONS)
    assert not spec.for_model("wide_deep", True).sequences  # aggregates: the paper's model, no sequence
    both = spec.for_model("wide_deep", True, sequences="both")
    assert [c.name for c in both.sequences] == ["weekly"] and both.column("txn_count").route == "deep"
    only = spec.for_model("wide_deep", True, sequences="sequence")
    names = {c.name for c in only.columns}
    assert "txn_count" not in names and "a2" in names  # a log sequence replaces the transaction aggregates only
    assert "txn_count" in TRANSACTION_FEATURES
    column_spec = spec_with([{"name": "m", "channels": {"c": ["a1", "a2"]}}])
    only = column_spec.for_model("wide_deep", True, sequences="sequence")
    assert only.column("a1").route == "wide" and "a2" not in {c.name for c in only.columns}
    with pytest.raises(SpecError, match="no sequences"):
        spec_with([]).for_model("wide_deep", True, sequences="both")
    with pytest.raises(SpecError, match="wide-only"):
        spec.for_model("wide", True, sequences="both")
    assert spec.without_sequences().sequences == ()
    # auto, resolved by the model's config: the declared sequences wherever there is a deep branch (not in an
    # ensemble, which merges MLP members only)
    from wide_deep.core.config import ModelConfig

    for model_type, declared, members, use in [
        ("wide_deep", True, 1, "both"),
        ("deep", True, 1, "both"),
        ("wide", True, 1, "aggregates"),
        ("wide_deep", False, 1, "aggregates"),
        ("wide_deep", True, 3, "aggregates"),
    ]:
        config = ModelConfig(model_type=model_type, ensemble_seeds=members)
        assert config.sequences_for(declared) == use
    assert ModelConfig(sequences="sequence").sequences_for(True) == "sequence"
