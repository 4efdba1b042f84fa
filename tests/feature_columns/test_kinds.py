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
