"""Each column kind's own behaviour (`feature_columns.kinds`): the registry, scorecard labels, the fitted-state
entries' JSON."""

from __future__ import annotations

from feature_columns import bucketized_column, categorical_column_with_vocabulary_list, crossed_column
from feature_columns.kinds import ENTRY_TYPES, KINDS, entry_from_json, kinds_in
from feature_columns.kinds.base import HashBuckets, Vocabulary
from feature_columns.kinds.bucketized import Buckets


def test_every_kind_is_registered_once_with_its_entries_and_section():
    assert len({kind.kind for kind in KINDS}) == len(KINDS)
    assert set(kinds_in("columns")) >= {"categorical", "numeric", "bucketized"}
    assert list(kinds_in("crosses")) == ["crossed"] and list(kinds_in("sequences")) == ["sequence"]
    for kind in KINDS:
        for entry in kind.entries:
            assert ENTRY_TYPES[entry.json_key] is entry


def test_fitted_entries_round_trip_through_json():
    for entry in (Vocabulary(("a", "b")), HashBuckets(7), Buckets((1.0, 2.0), 0.25)):
        assert entry_from_json("x", entry.to_json()) == entry


def test_attribute_labels_cover_every_index():
    assert bucketized_column("x", [1, 5]).attribute_labels(Buckets((1.0, 5.0))) == [
        "< 1",
        "[1, 5)",
        ">= 5",
        "(missing)",
    ]
    labels = categorical_column_with_vocabulary_list("c", ["a", ""]).attribute_labels(Vocabulary(("a", "")))
    assert labels[0].startswith("unseen") and labels[1:] == ["a", "(missing)"]
    cross = crossed_column(["a", "b"]).attribute_labels(Vocabulary(("x\x1fy",)))
    assert cross == ["other combinations (unseen or rare in training)", "x × y"]
    assert categorical_column_with_vocabulary_list("h", None).attribute_labels(HashBuckets(2)) == [
        "hash bucket 0",
        "hash bucket 1",
    ]


# --- the boolean kind: one module (feature_columns/kinds/boolean.py) and one line in the registry -------------


def _flags_frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(5)
    n = 300
    city = rng.choice(["a", "b"], n)
    guarantor = rng.random(n) < 0.4
    label = (rng.random(n) < np.where(guarantor, 0.15, 0.5)).astype(int)
    flags = np.where(guarantor, "Yes", "no").astype(object)
    flags[::23] = None  # missing
    return pd.DataFrame({"city": city, "guarantor": flags, "y": label})


def _flags_spec(**boolean):
    from feature_columns import FeatureSpec

    return FeatureSpec.from_dict(
        {
            "label": "y",
            "columns": [{"name": "city", "type": "categorical"}, {"name": "guarantor", "type": "boolean", **boolean}],
            "crosses": [{"keys": ["city", "guarantor"], "min_frequency": 1}],
        }
    )


def test_a_boolean_column_reads_its_spellings_and_refuses_others():
    import numpy as np
    import pandas as pd
    import pytest

    from feature_columns import DataError, SpecError
    from feature_columns.inputs import prepare_frame

    spec = _flags_spec()
    assert spec.column("guarantor").to_dict() == {"name": "guarantor", "type": "boolean"}
    custom = _flags_spec(true_values=["validated"], false_values=["not_validated"])
    assert type(custom).from_dict(custom.to_dict()) == custom
    frame = pd.DataFrame({"city": ["a"] * 6, "guarantor": [True, 0, "YES", "n", None, 1.0], "y": [0, 1] * 3})
    values = prepare_frame(spec, frame)["guarantor"]
    assert values.tolist() == ["true", "0", "YES", "n", "", "1"]
    assert np.array_equal(spec.column("guarantor").truth(values), [1, 0, 1, 0, np.nan, 1], equal_nan=True)
    with pytest.raises(DataError, match=r"'guarantor' is boolean in the spec but data row 2 .* holds 'maybe'"):
        prepare_frame(spec, frame.assign(guarantor=[True, False, "maybe", "no", None, 1]))
    with pytest.raises(SpecError, match="listed as both true and false"):
        _flags_spec(true_values=["y"], false_values=["Y"])


def test_a_boolean_column_becomes_three_attributes_in_the_model_and_the_scorecard(tmp_path):
    import numpy as np

    from feature_columns.fitting import fit_state, quality_report
    from feature_columns.inputs import prepare_frame, to_tensors
    from feature_columns.preprocessor import build_preprocessor, tree_input_model
    from tests.conftest import quiet
    from wide_deep.core.config import ModelConfig, TrainConfig
    from wide_deep.core.trainer import Estimator
    from wide_deep.data.tabular import tree_frame
    from wide_deep.evidence.scorecard import Scaling, build_scorecard
    from wide_deep.record.model_dir import ModelDir

    frame = _flags_frame()
    spec = _flags_spec().for_model("wide", use_crosses=True)
    arrays = prepare_frame(spec, frame)
    state = fit_state(spec, arrays)
    truth = spec.column("guarantor").truth(arrays["guarantor"])
    expected = np.nan_to_num(truth + 1, nan=0).astype(int)  # 0 missing, 1 false, 2 true
    assert quality_report(spec, state, arrays) == {"guarantor": {"missing_to_oov": int(np.isnan(truth).sum())}}
    preprocessor, layout = build_preprocessor(spec, state, report_unseen=True)
    encoded = preprocessor(to_tensors(arrays))
    segment = next(s for s in layout.wide_segments if s.name == "guarantor")
    assert segment.size == 3
    np.testing.assert_array_equal(encoded["wide_ids"].numpy()[:, 1] - segment.offset, expected)
    cross = state["city_x_guarantor"].values
    assert set(cross) == {f"{c}\x1f{i}" for c in "ab" for i in (0, 1, 2)}  # the index joins the cross
    unknown = preprocessor(to_tensors({**arrays, "guarantor": np.array(["maybe"] * len(frame), dtype=object)}))
    assert set(unknown["unseen_categories"].numpy().astype(str)) == {"guarantor"}  # over REST: reported unseen
    matrix, categorical = tree_input_model(spec, state, ["city", "guarantor"])
    np.testing.assert_array_equal(matrix(to_tensors(arrays)).numpy()[:, 1], truth)
    assert categorical == [True, True]
    np.testing.assert_array_equal(tree_frame(spec, state, arrays)["guarantor"].to_numpy(), truth)

    estimator = Estimator(
        ModelDir(tmp_path).training_files(),
        spec,
        state,
        ModelConfig(model_type="wide"),
        TrainConfig(batch_size=64, learning_rate=0.05, epochs=5, early_stopping_patience=0),
        log=quiet,
    )
    from tests.conftest import train_toy

    train_toy(estimator, arrays, frame["y"].to_numpy())
    table, _ = build_scorecard(estimator, Scaling())
    rows = table[table["characteristic"] == "guarantor"]
    assert rows["attribute"].tolist() == ["(missing)", "false", "true"] and set(rows["type"]) == {"boolean"}
    points = dict(zip(rows["attribute"], rows["points"]))
    assert points["true"] > points["false"]  # a guarantor lowers the default rate: more points


def test_a_full_scorecard_bins_numeric_columns_into_readable_characteristics():
    import numpy as np

    from feature_columns import FeatureSpec
    from feature_columns.fitting import fit_state
    from feature_columns.inputs import prepare_frame, to_tensors
    from feature_columns.kinds.numeric import quantile_boundaries
    from feature_columns.preprocessor import build_preprocessor
    from tests.conftest import make_toy_frame

    assert quantile_boundaries(np.array([1.0, 1, 1, 2, 2, 3]), 10) == (1.5, 2.5)  # few values: a bin each
    bounds = quantile_boundaries(np.repeat([0.0, 1.0, 2.0, 3.0], [50, 30, 15, 5]).astype(float), 2)
    assert bounds == (0.5,)  # a tie is never split
    spec = FeatureSpec.from_dict(
        {"label": "y", "columns": [{"name": "city", "type": "categorical"}, {"name": "amount", "type": "numeric"}]}
    )
    declared, full = spec.for_model("wide_deep", True), spec.for_model("wide_deep", True, scorecard="full")
    assert declared.column("amount").route == "deep" and declared.column("amount").wide_encoding == "linear"
    amount = full.column("amount")
    assert amount.route == "both" and amount.wide_encoding == "bins" and amount.binned
    frame = make_toy_frame()
    arrays = prepare_frame(full, frame)
    state = fit_state(full, arrays)
    assert len(state["amount"].wide_boundaries) == 9  # ten bins of roughly equal counts
    preprocessor, layout = build_preprocessor(full, state)
    segment = next(s for s in layout.wide_segments if s.name == "amount")
    assert segment.size == 11 and layout.deep_dense_names  # ten bins and one for missing; the deep part stays
    assert segment.ordered and list(segment.chain) == list(range(segment.offset, segment.offset + 10))
    steps = [step for step in layout.ordered_steps() if step[0] in segment.chain]
    assert steps == [(row, row + 1) for row in range(segment.offset, segment.offset + 9)]  # missing is no step
    assert not next(s for s in layout.wide_segments if s.name == "city").ordered
    ids = preprocessor(to_tensors(arrays))["wide_ids"].numpy()[:, 1] - segment.offset
    assert (ids[np.isnan(arrays["amount"])] == 10).all() and set(ids[~np.isnan(arrays["amount"])]) == set(range(10))
    labels = amount.attribute_labels(state["amount"])
    assert labels[0].startswith("< ") and labels[-1] == "(missing)" and len(labels) == 11
