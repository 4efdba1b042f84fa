import dataclasses

import pytest

from feature_columns import (
    FeatureSpec,
    SpecError,
    bucketized_column,
    categorical_column_with_hash_bucket,
    categorical_column_with_vocabulary_list,
    crossed_column,
    embedding_column,
    indicator_column,
    numeric_column,
)
from feature_columns.kinds.crossed import CrossedColumn
from feature_columns.spec import LabelSpec
from tests.conftest import SPECS


@pytest.mark.parametrize("name", ["sme", "taiwan", "german"])
def test_shipped_specs_round_trip_through_yaml(name, tmp_path):
    spec = FeatureSpec.from_yaml(SPECS / f"{name}.yaml")
    spec.to_yaml(tmp_path / "spec.yaml")
    again = FeatureSpec.from_yaml(tmp_path / "spec.yaml")
    assert again == spec
    assert again.to_yaml() == spec.to_yaml()


def test_python_api_builds_the_same_spec_as_yaml():
    city = categorical_column_with_vocabulary_list("city")
    industry = categorical_column_with_hash_bucket("industry", 50)
    amount = numeric_column("amount", encoding="log1p_zscore")
    # a bucketized column reusing the name 'amount' is rejected, like a duplicate in YAML
    with pytest.raises(SpecError, match="'amount' is named twice"):
        FeatureSpec(label=LabelSpec("y"), columns=(city, amount, bucketized_column(amount, boundaries=[1, 10])))
    spec = FeatureSpec(
        label=LabelSpec("y"), columns=(city, industry, amount, crossed_column([city, "industry"], hash_bucket_size=100))
    )
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    assert embedding_column(city, 4).route == "deep" and embedding_column(city, 4).embedding_dim == 4
    assert indicator_column(city).deep_encoding == "indicator"


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["columns"].append({"name": "city", "type": "categorical"}), "'city' is named twice"),
        (lambda d: d["crosses"].append({"keys": ["city", "nowhere"]}), "key 'nowhere' is not a column"),
        (lambda d: d["crosses"].append({"keys": ["city", "amount"]}), "only categorical, bucketized, boolean columns"),
        (lambda d: d["columns"].append({"name": "x", "type": "text"}), "type='text'"),
        (lambda d: d["columns"].append({"name": "x", "type": "numeric", "encoding": "log"}), "encoding='log'"),
        (
            lambda d: d["columns"].append({"name": "x", "type": "numeric", "colour": 1}),
            r"unknown field\(s\) \['colour'\]",
        ),
        (lambda d: d["columns"].append({"name": "x", "type": "categorical", "route": "middle"}), "route='middle'"),
        (lambda d: d["columns"].append({"name": "y", "type": "numeric"}), "label or id column"),
        (lambda d: d.pop("label"), "missing 'label'"),
        (
            lambda d: d["columns"].append({"name": "x", "type": "numeric", "protected": "yes"}),
            "'protected' must be true or false, got 'yes'",
        ),
        (lambda d: d.update(label={"column": "y", "positive": [1], "negative": [1]}), "both positive and negative"),
    ],
)
def test_invalid_specs_name_the_problem(change, message):
    data = {
        "label": {"column": "y"},
        "columns": [{"name": "city", "type": "categorical"}, {"name": "amount", "type": "numeric"}],
        "crosses": [],
    }
    change(data)
    with pytest.raises(SpecError, match=message):
        FeatureSpec.from_dict(data)


def test_yaml_1_1_booleans_and_octals_stay_the_text_written(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(
        "label: {column: approved, positive: [yes], negative: [no]}\n"
        "columns:\n"
        "  - {name: country, type: categorical, vocabulary: [DE, NO, SE, on, off, 010, '1:30', 7]}\n"
        "  - {name: amount, type: numeric, protected: true}\n"
        "  - {name: rate, type: bucketized, boundaries: [0.5, 10, 1e3]}\n"
    )
    spec = FeatureSpec.from_yaml(path)
    assert spec.label.positive == ("yes",) and spec.label.negative == ("no",)
    country, amount, rate = spec.columns
    assert country.vocabulary == ("DE", "NO", "SE", "on", "off", "010", "1:30", "7")
    assert amount.protected is True
    assert rate.boundaries == (0.5, 10.0, 1000.0)
    path.write_text(path.read_text().replace("protected: true", "protected: yes"))
    with pytest.raises(SpecError, match="'protected' must be true or false, got 'yes'"):
        FeatureSpec.from_yaml(path)
    spec.to_yaml(tmp_path / "again.yaml")  # what the library writes reads back the same
    assert FeatureSpec.from_yaml(tmp_path / "again.yaml") == spec


def test_invalid_yaml_file_is_a_spec_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("columns: [unclosed")
    with pytest.raises(SpecError, match="not valid YAML"):
        FeatureSpec.from_yaml(path)
    with pytest.raises(SpecError, match="does not exist"):
        FeatureSpec.from_yaml(tmp_path / "absent.yaml")


def test_routing_for_the_paper_variants(sme_spec):
    wide = sme_spec.for_model("wide", use_crosses=True)
    assert {c.route for c in wide.columns} == {"wide"}
    deep = sme_spec.for_model("deep", use_crosses=False)
    assert {c.route for c in deep.columns} == {"deep"} and not deep.crosses
    both = sme_spec.for_model("wide_deep", use_crosses=True, include_protected=True)
    assert both.columns == sme_spec.without_sequences().columns  # sequences only when asked for
    assert all(isinstance(c, CrossedColumn) for c in both.crosses) and len(both.crosses) == 3
    default = sme_spec.for_model("wide_deep", use_crosses=True)  # protected columns, and crosses on them, left out
    assert "gender" not in {c.name for c in default.input_columns}
    assert [c.name for c in default.crosses] == ["city_x_industry_primary", "city_tier_x_industry_primary"]
    assert [c.name for c in sme_spec.protected_columns] == ["gender"]
    with pytest.raises(SpecError, match="model_type"):
        sme_spec.for_model("forest", True)


def test_a_model_spec_is_the_routed_spec_and_round_trips(sme_spec, tmp_path):
    from feature_columns import ModelSpec

    routed = sme_spec.for_model("wide", use_crosses=False)
    assert isinstance(routed, ModelSpec) and not isinstance(sme_spec, ModelSpec)
    assert routed.transactions == sme_spec.transactions and routed.label == sme_spec.label
    routed.to_yaml(tmp_path / "routed.yaml")
    again = ModelSpec.from_yaml(tmp_path / "routed.yaml")
    assert isinstance(again, ModelSpec) and again == routed
    with pytest.raises(SpecError, match="already routed"):
        routed.for_model("deep", use_crosses=False)


def test_column_checks():
    with pytest.raises(SpecError, match="strictly increasing"):
        bucketized_column("x", boundaries=[3, 1])
    with pytest.raises(SpecError, match="either vocabulary or hash_buckets"):
        dataclasses.replace(categorical_column_with_hash_bucket("x", 5), vocabulary=("a",))
    with pytest.raises(SpecError, match="at least two keys"):
        crossed_column(["x"])


def test_the_date_column_round_trips_and_defaults_to_the_transactions_as_of_date(tmp_path):
    spec = FeatureSpec.from_dict(
        {"label": {"column": "y", "positive": [1]}, "date": "applied", "columns": [{"name": "x", "type": "numeric"}]}
    )
    assert spec.date_column == "applied" == spec.split_date_column
    spec.to_yaml(tmp_path / "s.yaml")
    assert FeatureSpec.from_yaml(tmp_path / "s.yaml") == spec
    sme = FeatureSpec.from_yaml(SPECS / "sme.yaml")
    assert sme.date_column is None and sme.split_date_column == "application_date"
    with pytest.raises(SpecError, match="'date' must name the column of application dates"):
        FeatureSpec.from_dict(
            {"label": {"column": "y", "positive": [1]}, "date": 3, "columns": [{"name": "x", "type": "numeric"}]}
        )
    with pytest.raises(SpecError, match="is the label column"):
        FeatureSpec.from_dict(
            {"label": {"column": "y", "positive": [1]}, "date": "y", "columns": [{"name": "x", "type": "numeric"}]}
        )
