"""One labelled file read against its spec: validation by name, labels, ids, the stratified split."""

import dataclasses

import numpy as np
import pytest

from feature_columns import DataError, FeatureSpec
from feature_columns.errors import UserError
from tests.conftest import quiet
from wide_deep.data.dataset import Split, load_dataset, stratified_split, time_split


def _write(frame, tmp_path, name="d.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_split_is_stratified_disjoint_and_seeded():
    labels = np.array([0] * 700 + [1] * 300)
    a = stratified_split(labels, 42)
    assert [len(a[k]) for k in ("train", "valid", "test")] == [600, 200, 200]
    assert len(np.unique(np.concatenate(list(a.values())))) == 1000
    assert all(abs(labels[idx].mean() - 0.3) < 0.01 for idx in a.values())
    b = stratified_split(labels, 42)
    assert all((a[k] == b[k]).all() for k in a)
    assert not (stratified_split(labels, 1)["test"] == a["test"]).all()


def test_loads_a_valid_file(toy_spec, toy_frame, tmp_path):
    data = load_dataset(toy_spec, _write(toy_frame, tmp_path), log=quiet)
    assert sum(int(s.labels.sum()) for s in data.splits.values()) == toy_frame["y"].sum()
    test = data.splits["test"]
    assert len(test) == 80 and test.arrays["city"].dtype == object and test.arrays["amount"].dtype == np.float32
    assert sorted(np.concatenate([s.ids for s in data.splits.values()]).tolist()) == list(range(400))
    assert data.reference is data.splits["train"] and data.fit_arrays is data.splits["train"].arrays
    assert data.training.kind == "in_memory" and data.training.rows_per_epoch == 240
    assert data.report == {
        "rows": 400,
        "positive_rate": toy_frame["y"].mean(),
        "split": {"design": "random", "seed": 42},
    }


def test_limited_keeps_a_seeded_subset_of_every_split(toy_spec, toy_frame, tmp_path):
    data = load_dataset(toy_spec, _write(toy_frame, tmp_path), log=quiet)
    small = data.limited(1, train=50, valid=10)
    assert [len(small.splits[k]) for k in ("train", "valid", "test")] == [50, 10, 80]
    assert small.training.rows_per_epoch == 50 and small.reference is small.splits["train"]
    assert set(small.splits["train"].ids) <= set(data.splits["train"].ids)
    again = data.limited(1, train=50, valid=10)
    np.testing.assert_array_equal(again.splits["train"].ids, small.splits["train"].ids)


def test_splits_take_and_concatenate_every_field():
    split = Split({"x": np.arange(5.0)}, np.array([0, 1, 0, 1, 1]), ids=np.arange(5), rejected=np.zeros(5, bool))
    part = split.take(np.array([1, 3]))
    assert part.labels.tolist() == [1, 1] and part.ids.tolist() == [1, 3] and part.oracle is None
    joined = Split.concatenate([part, split.take(np.array([0]))])
    assert joined.arrays["x"].tolist() == [1.0, 3.0, 0.0] and len(joined.rejected) == 3


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda f: f.drop(columns=["amount"]), r"column\(s\) \['amount'\]"),
        (lambda f: f.drop(columns=["y"]), "label column 'y' is missing"),
        (
            lambda f: f.assign(y=np.where(np.arange(len(f)) == 7, 2, f["y"])),
            r"data row 7 \(line 9 of a CSV file\) has value 2",
        ),
        (lambda f: f.assign(y=0), "only one class"),
        (
            lambda f: f.assign(id=np.where(np.arange(len(f)) == 9, 3, f["id"])),
            r"repeats id 3 \(data rows \[3, 9\] \(lines \[5, 11\] of a CSV file\)\)",
        ),
        (
            lambda f: f.assign(id=np.nan),
            r"id column 'id' is empty in 400 of 400 row\(s\), first at data rows \[0, 1, 2, 3, 4\]",
        ),
        (
            lambda f: f.assign(amount=f["amount"].astype(object).where(np.arange(len(f)) != 11, "twelve")),
            "'amount'.*row 11.*'twelve'",
        ),
        (lambda f: f.assign(y=f["y"].astype(float).where(np.arange(len(f)) != 4, np.nan)), "empty in 1 row"),
    ],
)
def test_bad_data_is_reported_by_name(toy_spec, toy_frame, tmp_path, mutate, message):
    with pytest.raises(DataError, match=message):
        load_dataset(toy_spec, _write(mutate(toy_frame), tmp_path), log=quiet)


def test_empty_and_missing_files(toy_spec, tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_dataset(toy_spec, tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("id,city,tier,amount,age,y\n")
    with pytest.raises(DataError, match="no rows"):
        load_dataset(toy_spec, tmp_path / "header.csv")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(toy_spec, tmp_path / "absent.csv")


def test_label_without_negative_list_must_be_binary(toy_spec, toy_frame, tmp_path):
    import dataclasses

    from feature_columns.spec import LabelSpec

    spec = dataclasses.replace(toy_spec, label=LabelSpec("y", positive=("bad",)))
    frame = toy_frame.assign(y=np.where(toy_frame["y"] == 1, "bad", "good"))
    splits = load_dataset(spec, _write(frame, tmp_path), log=quiet).splits
    assert sum(int(s.labels.sum()) for s in splits.values()) == toy_frame["y"].sum()
    frame.loc[0, "y"] = "ugly"
    with pytest.raises(DataError, match="label.negative"):
        load_dataset(spec, _write(frame, tmp_path), log=quiet)


def test_rows_without_a_label_are_an_error_unless_the_spec_drops_them(toy_spec, toy_frame, tmp_path):
    frame = toy_frame.assign(y=toy_frame["y"].astype(float).where(np.arange(len(toy_frame)) % 10 != 3, np.nan))
    path = _write(frame, tmp_path)
    with pytest.raises(DataError, match=r"empty in 40 row\(s\), first at data row 3 .*missing: drop"):
        load_dataset(toy_spec, path, log=quiet)
    dropping = dataclasses.replace(toy_spec, label=dataclasses.replace(toy_spec.label, missing="drop"))
    assert FeatureSpec.from_dict(dropping.to_dict()) == dropping  # the setting round-trips through YAML's dict
    logs = []
    loaded = load_dataset(dropping, path, log=logs.append)
    assert loaded.report["unlabelled_rows_dropped"] == 40 and any("40 row(s) without a label" in line for line in logs)
    kept_ids = np.concatenate([split.ids for split in loaded.splits.values()])
    assert sorted(kept_ids.tolist()) == [i for i in range(len(frame)) if i % 10 != 3]
    bad = frame.assign(amount=frame["amount"].astype(object).where(np.arange(len(frame)) != 13, "lots"))
    with pytest.raises(
        DataError, match=r"'amount' is numeric in the spec but data row 13 "
    ):  # row numbers still count every row of the file
        load_dataset(dropping, _write(bad, tmp_path), log=quiet)


def _dated(toy_frame):
    """The toy rows with an application date: 40 days, ten rows a day, in a shuffled row order."""
    dates = np.datetime64("2024-01-01") + (np.arange(len(toy_frame)) // 10).astype("timedelta64[D]")
    return toy_frame.assign(applied=np.random.default_rng(1).permutation(dates).astype(str))


def test_time_split_trains_on_the_earliest_and_tests_on_the_latest(toy_spec, toy_frame, tmp_path):
    spec = dataclasses.replace(toy_spec, date_column="applied")
    frame = _dated(toy_frame)
    data = load_dataset(spec, _write(frame, tmp_path), log=quiet, split="time")
    by_id = dict(zip(frame["id"], frame["applied"].astype("datetime64[ns]")))
    dates = {name: np.array([by_id[i] for i in split.ids]) for name, split in data.splits.items()}
    assert dates["train"].max() < dates["valid"].min() and dates["valid"].max() < dates["test"].min()
    assert [len(data.splits[k]) for k in ("train", "valid", "test")] == [240, 80, 80]
    assert data.report["split"] == {
        "design": "time",
        "date_column": "applied",
        "periods": {
            "train": ["2024-01-01", "2024-01-24"],
            "valid": ["2024-01-25", "2024-02-01"],
            "test": ["2024-02-02", "2024-02-09"],
        },
    }


def test_time_split_keeps_one_date_in_one_split():
    dates = np.repeat(np.datetime64("2024-01-01") + np.arange(4).astype("timedelta64[D]"), [30, 45, 15, 10])
    labels = np.tile([0, 1], 50)
    parts = time_split(dates, labels)  # the 60 % cut falls inside the second day: the day goes to validation
    assert [len(parts[k]) for k in ("train", "valid", "test")] == [30, 45, 25]
    with pytest.raises(DataError, match=r"the test split \(25 rows\) has 0 non-defaults"):
        time_split(dates, np.where(np.arange(100) < 75, labels, 1))


def test_time_split_needs_a_date_column_and_dates(toy_spec, toy_frame, tmp_path):
    with pytest.raises(UserError, match=r"name their date column in the spec \(date: <column>\)"):
        load_dataset(toy_spec, _write(toy_frame, tmp_path), log=quiet, split="time")
    spec = dataclasses.replace(toy_spec, date_column="applied")
    frame = _dated(toy_frame)
    frame.loc[5, "applied"] = "soon"
    with pytest.raises(DataError, match=r"date column 'applied' data row 5 \(line 7 of a CSV file\) has 'soon'"):
        load_dataset(spec, _write(frame, tmp_path, "bad.csv"), log=quiet, split="time")
