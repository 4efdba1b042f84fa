"""The Python API checks what the command line checks, before any work starts."""

from __future__ import annotations

import numpy as np
import pandas as pd
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


@pytest.fixture(scope="module")
def german_xy():
    frame = pd.read_csv(GERMAN)
    y = (frame.pop("creditability") == "bad").astype(int)
    return frame, y


def test_a_scikit_learn_shaped_classifier_fits_x_y_and_scores_quietly(german_xy, tmp_path, capfd):
    """fit(X, y) with a spec inferred from X, nothing printed; probabilities, classes, log-odds and the AUC agree;
    the scorecard and reasons are DataFrames; save / load give the same probabilities."""
    from sklearn.base import clone

    from wide_deep.api import CreditClassifier

    X, y = german_xy
    capfd.readouterr()
    model = CreditClassifier(model_dir=str(tmp_path / "run"), epochs=3).fit(X.iloc[:800], y.iloc[:800])
    printed = capfd.readouterr()
    assert printed.out == "", printed.out[:2000]
    assert len([line for line in printed.err.splitlines() if line.strip()]) <= 3, printed.err[-3000:]
    held_out, truth = X.iloc[800:], y.iloc[800:]
    proba = model.predict_proba(held_out)
    assert proba.shape == (200, 2) and np.allclose(proba.sum(axis=1), 1)
    assert set(np.unique(model.predict(held_out))) <= {0, 1} and list(model.classes_) == [0, 1]
    assert np.all(np.diff(model.decision_function(held_out)[np.argsort(proba[:, 1])]) >= -1e-9)
    area = model.score(held_out, truth)
    assert 0.6 < area <= 1
    assert "test AUC" in repr(model) and "epochs=3" in repr(model)
    assert {"characteristic", "attribute", "points"} <= set(model.scorecard().columns)
    assert "reason_1" in model.reasons(held_out.head(3), n=1).columns
    saved = model.save(tmp_path / "saved")
    again = CreditClassifier.load(saved)
    np.testing.assert_allclose(again.predict_proba(held_out), proba, atol=1e-6)
    copy = clone(model)
    assert copy.get_params() == model.get_params() and not hasattr(copy, "model_")
    assert copy.set_params(epochs=5, verbose=True).get_params()["epochs"] == 5 and copy.verbose


def test_the_classifier_passes_scikit_learns_checks_that_need_no_fit_on_arrays():
    """check_estimator's checks fit on NumPy arrays without a spec, which a credit model of named raw columns
    cannot take; the parameter protocol's checks hold."""
    from sklearn.utils.estimator_checks import (
        check_get_params_invariance,
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_set_params,
    )

    from wide_deep.api import CreditClassifier

    name, model = "CreditClassifier", CreditClassifier()
    check_parameters_default_constructible(name, model)
    check_no_attributes_set_in_init(name, model)
    check_get_params_invariance(name, model)
    check_set_params(name, model)


def test_the_classifier_names_its_mistakes(german_xy):
    from wide_deep.api import CreditClassifier

    X, y = german_xy
    with pytest.raises(UserError, match="not fitted yet"):
        CreditClassifier().predict_proba(X)
    with pytest.raises(UserError, match="pandas DataFrame"):
        CreditClassifier().fit(X.to_numpy(), y)
    with pytest.raises(UserError, match="y has 10 labels for 1,000 rows"):
        CreditClassifier().fit(X, y.head(10))
