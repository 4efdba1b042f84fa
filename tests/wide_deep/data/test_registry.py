"""The built-in datasets and a user's own file plus spec."""

from pathlib import Path

import pytest

from feature_columns.errors import UserError
from wide_deep.data.registry import PROJECT_ROOT, builtin, resolve


def test_builtin_datasets_exist_with_their_specs():
    for name in ("taiwan", "german"):
        info = resolve(name, None, None)
        assert info.data.exists() and info.spec.exists() and info.truth is None
    sme = resolve("sme", None, None)
    assert sme.synthetic and sme.spec == PROJECT_ROOT / "data/specs/sme.yaml" and sme == builtin("sme")


def test_another_file_of_a_builtin_dataset_brings_its_own_truth():
    info = resolve("sme", "/data/big/applications.parquet", None)
    assert info.data == Path("/data/big/applications.parquet") and info.truth == Path("/data/big/truth.parquet")
    assert info.metadata == Path("/data/big/metadata.json")


def test_a_user_file_needs_a_spec():
    with pytest.raises(UserError, match="give its feature spec with --spec"):
        resolve("loans.csv", None, None)
    info = resolve("loans.csv", None, "loans.yaml")
    assert info.name == "loans" and info.spec == Path("loans.yaml") and not info.synthetic
