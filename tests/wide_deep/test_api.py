"""The Python API checks what the command line checks, before any work starts."""

from __future__ import annotations

import pytest

from feature_columns.errors import UserError
from tests.conftest import GERMAN, SPECS
from wide_deep.api import CreditModel


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"model_dir": None}, "model_dir=None: name the folder of the run"),
        ({"model_dir": ""}, "name the folder of the run"),
        ({"model_dir": 5}, "model_dir=5"),
        ({"epochs": -1}, "--epochs must be at least 1"),
        ({"dropout": 2.0}, r"--dropout must be in \[0, 1\)"),
        ({"learning_rate": float("nan")}, "--learning_rate must be a finite number above 0"),
        ({"seed": -3}, "--seed must be an integer from 0"),
        ({"batch_size": "256"}, "--batch_size must be at least 1"),
        ({"preset": "fastest"}, "preset='fastest' is not one of"),
        ({"colour": "red"}, r"unknown setting\(s\) \['colour'\]"),
    ],
)
def test_bad_settings_are_refused_before_any_work(tmp_path, monkeypatch, settings, message):
    monkeypatch.chdir(tmp_path)
    arguments = {"model_dir": str(tmp_path / "run"), "log": lambda *_: None, **settings}
    with pytest.raises(UserError, match=message):
        CreditModel.fit(GERMAN, SPECS / "german.yaml", **arguments)
    assert list(tmp_path.iterdir()) == []  # no ./None/, no run folder: nothing was trained


def test_a_run_is_never_written_inside_another_run(sme_run, tmp_path):
    with pytest.raises(UserError, match="inside the run folder"):
        CreditModel.fit(GERMAN, SPECS / "german.yaml", sme_run / "nested", log=lambda *_: None)
    assert not (sme_run / "nested").exists()
