"""The run pipeline in process: prepare → train → evaluate → export, resume, determinism, a user's CSV."""

from __future__ import annotations

import dataclasses
import textwrap

import numpy as np
import pandas as pd
import pytest

from feature_columns.errors import DataError, UserError
from tests.conftest import quiet
from wide_deep.core.config import TrainConfig
from wide_deep.evidence.scorecard import Scaling
from wide_deep.record.config import RunConfig
from wide_deep.record.model_dir import ModelDir
from wide_deep.run.pipeline import run_training
from wide_deep.run.prepared import prepare_data
from wide_deep.run.training import train_and_evaluate

REQUIRED_KEYS = {
    "auc",
    "precision",
    "recall",
    "f1",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "accuracy",
    "log_loss",
    "brier",
    "ks",
    "gini",
    "threshold",
    "n_train",
    "n_valid",
    "n_test",
    "train_examples_per_sec",
    "oracle_auc",
    "f1_at_0_5",
    "valid_auc",
    "best_epoch",
    "data_quality",
}


def test_a_run_trains_evaluates_and_exports(sme_run):
    run = ModelDir(sme_run)
    metrics = run.read_metrics()
    assert REQUIRED_KEYS <= set(metrics)
    history = pd.read_csv(run.history)
    assert len(history) == 8 == metrics["epochs_trained"]
    assert history["loss"].iloc[-1] < history["loss"].iloc[0]  # loss falls
    assert metrics["auc"] > 0.62  # clearly better than chance on 600 test rows
    assert 0.65 < metrics["oracle_auc"] < 0.85
    # gender (protected) is left out, so the run is also measured against the oracle without its effect
    assert 0.65 < metrics["oracle_auc_permitted"] < 0.85 and metrics["oracle_auc_permitted"] != metrics["oracle_auc"]
    assert metrics["n_train"] == 1800 and metrics["n_valid"] == 600 and metrics["n_test"] == 600
    # the best epoch's weights, blended with the GBDT on validation: no worse there than the best epoch alone
    assert metrics["valid_auc"] >= history["val_auc"].max() - 0.005 and 0 <= metrics["best_epoch"] <= 8
    assert metrics["data_report"]["transactions"]["rows_in_window"] > 0
    for name in (
        "spec.yaml",
        "preprocessing.json",
        "config.json",
        "checkpoints",
        "best",
        "summaries",
        "calibration.json",
        "evidence.json",
        "scorecard.csv",
        "strategy.csv",
        "test_scores.parquet",
    ):
        assert run.file(name).exists(), name
    assert len(run.export_versions()) == 1


def german(model_dir, **train) -> RunConfig:
    return RunConfig(
        dataset="german",
        model_dir=str(model_dir),
        export=False,
        evidence=False,
        train=TrainConfig(**{"learning_rate": 1e-3, **train}),
    )


def test_rerun_resumes_and_changed_settings_are_refused(tmp_path):
    logs = []
    run_training(german(tmp_path, epochs=2), log=quiet)
    result = run_training(german(tmp_path, epochs=4, early_stopping_patience=0), log=logs.append)
    assert any("resuming from" in line and "(epoch 2," in line for line in logs)
    assert pd.read_csv(tmp_path / "history.csv")["epoch"].tolist() == [1, 2, 3, 4] and result["epochs_trained"] == 4
    changed = dataclasses.replace(
        german(tmp_path, epochs=4), model=dataclasses.replace(RunConfig().model, hidden_units=(32,))
    )
    with pytest.raises(UserError, match=r"different settings \(--hidden_units: was \[256, 128, 64\], now \[32\]\)"):
        run_training(changed, log=quiet)


def test_same_seed_same_metrics(tmp_path):
    results = [run_training(german(tmp_path / name, epochs=3, seed=7), log=quiet) for name in ("a", "b")]
    for key in ("auc", "log_loss", "brier", "f1", "threshold", "valid_auc"):
        assert results[0][key] == results[1][key], key
    other = run_training(german(tmp_path / "c", epochs=3, seed=8), log=quiet)
    assert other["log_loss"] != results[0]["log_loss"]


def test_a_cutoff_rule_sets_the_threshold_on_validation(tmp_path):
    config = dataclasses.replace(german(tmp_path, epochs=1), cutoff="approval:0.7")
    result = train_and_evaluate(config, prepare_data(config, log=quiet), log=quiet, keep_scores=True)
    valid = np.asarray(result["scores"]["valid"])
    assert np.mean(valid < result["threshold"]) == pytest.approx(0.7, abs=0.01)  # 70 % of validation approved
    # the policy as a credit committee reads it: in points, with what it does on the test split
    policy, test = result["cutoff"], np.asarray(result["scores"]["test"])
    labels = prepare_data(config, log=quiet).splits["test"].labels
    approved = test < result["threshold"]
    assert policy["rule"] == "approval:0.7" and policy["probability"] == result["threshold"]
    assert result["cutoff_approval_rate"] == pytest.approx(approved.mean())
    assert result["cutoff_approved_bad_rate"] == pytest.approx(labels[approved].mean())
    assert policy["declined_bad_rate"] == pytest.approx(labels[~approved].mean())
    assert result["cutoff_points"] == pytest.approx(
        Scaling(*config.scorecard).score(np.log(result["threshold"] / (1 - result["threshold"])))
    )


def test_preprocessing_fitted_on_other_data_is_refused(tmp_path):
    config = german(tmp_path, epochs=1)
    data = prepare_data(config, log=quiet)
    train_and_evaluate(config, data, log=quiet)
    other = prepare_data(dataclasses.replace(config, split_seed=42), log=quiet)
    other = dataclasses.replace(other, state={**other.state, "credit_amount": data.state["age_in_years"]})
    with pytest.raises(UserError, match="preprocessing fitted on different data"):
        train_and_evaluate(config, other, log=quiet)


SPEC = textwrap.dedent("""
    label: {column: y, positive: [1]}
    id: id
    columns:
      - {name: city, type: categorical}
      - {name: amount, type: numeric, encoding: log1p_zscore}
      - {name: age, type: bucketized, num_buckets: 4}
    crosses:
      - {keys: [city, age], min_frequency: 2}
""")


def test_a_user_csv_with_a_spec_and_bad_input_errors(tmp_path, toy_frame):
    (tmp_path / "spec.yaml").write_text(SPEC)
    toy_frame.to_csv(tmp_path / "loans.csv", index=False)
    config = RunConfig(
        dataset=str(tmp_path / "loans.csv"),
        spec=str(tmp_path / "spec.yaml"),
        model_dir=str(tmp_path / "m"),
        export=False,
        evidence=False,
        train=TrainConfig(epochs=2),
    )
    result = run_training(config, log=quiet)
    assert result["oracle_auc"] is None and result["dataset"] == "loans" and result["n_train"] == 240

    bad = toy_frame.astype({"amount": object})
    bad.loc[3, "amount"] = "lots"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match="column 'amount'.*row 3"):
        prepare_data(dataclasses.replace(config, dataset=str(tmp_path / "bad.csv")), log=quiet)
    with pytest.raises(UserError, match="--spec"):
        prepare_data(RunConfig(dataset=str(tmp_path / "loans.csv")), log=quiet)
    (tmp_path / "named.yaml").write_text("name: sme_loans_2024\n" + SPEC)  # the spec's name, not the file's
    named = prepare_data(dataclasses.replace(config, spec=str(tmp_path / "named.yaml")), log=quiet)
    assert named.info.name == "sme_loans_2024"
    (tmp_path / "dup.yaml").write_text(SPEC.replace("crosses:", "  - {name: city, type: numeric}\ncrosses:"))
    with pytest.raises(UserError, match="'city' is named twice"):
        prepare_data(dataclasses.replace(config, spec=str(tmp_path / "dup.yaml")), log=quiet)


def test_the_accurate_model_on_small_data_and_a_run_that_ends_still_improving(tmp_path):
    """German credit with the accurate preset's model: a warm start (epoch 0), a GBDT blend, a step budget."""
    from wide_deep.core.config import ModelConfig

    logs = []
    config = RunConfig(
        dataset="german",
        model_dir=str(tmp_path / "a"),
        export=False,
        evidence=False,
        model=ModelConfig(warm_start="logistic", wide_gbdt=True),
        train=TrainConfig(epochs=2, learning_rate=1e-3, early_stopping_patience=0, min_steps=30),
    )
    result = run_training(config, log=logs.append)
    said = "\n".join(logs)
    assert "the wide branch starts as a logistic regression" in said
    assert "GBDT trees kept: " in said or "GBDT trees left out: " in said  # free trees (ModelConfig's default)
    assert "small data: up to 10 epochs, so that training may take 30 steps" in said  # 3 steps an epoch
    assert result["epochs_trained"] <= 10 and result["best_epoch"] is not None and result["auc"] > 0.7
    slow = dataclasses.replace(
        config,
        model_dir=str(tmp_path / "b"),
        model=ModelConfig(),
        train=TrainConfig(epochs=3, learning_rate=1e-4, early_stopping_patience=0),
    )
    logs.clear()
    run_training(slow, log=logs.append)
    assert any("still improving" in line and "raise --epochs" in line for line in logs)


def test_an_ensemble_trains_its_members_and_exports_one_model_averaging_them(tmp_path):
    """German credit, `--ensemble_seeds=2`: two members in members/<k>, merged into one model that the evidence,
    the reload and the export all use; its logit is the mean of the members'."""
    import numpy as np

    from wide_deep.core.config import ModelConfig
    from wide_deep.core.trainer import Estimator
    from wide_deep.serving.saved_model import LoadedExport

    model = ModelConfig(warm_start="logistic", wide_gbdt=True, hidden_units=(32, 16), ensemble_seeds=2)
    config = dataclasses.replace(
        german(tmp_path / "run", epochs=2, early_stopping_patience=0), model=model, export=True, evidence=True
    )
    logs = []
    result = run_training(config, log=logs.append)
    assert "ensemble member 2/2 (seed 43)" in logs and any("members merged" in line for line in logs)
    assert [m["seed"] for m in result["ensemble_members"]] == [42, 43]
    assert result["epochs_trained"] == sum(m["epochs_trained"] for m in result["ensemble_members"])
    assert result["reason_code_max_abs_residual"] < 0.05  # the reason codes still add up to the logit

    run = ModelDir(config.model_dir)
    data = prepare_data(config, log=quiet, state=run.load_state())
    rows = data.splits["test"].arrays
    merged = run.load_estimator(log=quiet)  # with the trees when their blend was kept
    network_spec = dataclasses.replace(merged.spec, gbdt=False)  # the members and their merge hold no trees
    network = Estimator(run.training_files(), network_spec, merged.state, model, config.train, log=quiet)
    network.restore_best()
    members = []
    for k in range(2):
        member = Estimator(
            run.member(k).training_files(),
            network_spec,
            merged.state,
            dataclasses.replace(model, ensemble_seeds=1),
            dataclasses.replace(config.train, seed=42 + k),
            log=quiet,
        )
        member.restore_best()
        members.append(member.logits_encoded(network.encode(rows)))
    assert not np.allclose(members[0], members[1])  # two seeds, two models
    merged_network = network.logits_encoded(network.encode(rows))
    np.testing.assert_allclose(merged_network, np.mean(members, axis=0), rtol=1e-4, atol=1e-4)
    logits = merged.logits_encoded(merged.encode(rows))
    trees = merged.state["__gbdt__"]
    if trees.blend is not None:
        from wide_deep.core.blend import tree_margin

        a, b, c = trees.blend
        expected = a * merged_network + b * tree_margin(merged.encode(rows), merged.layout, trees) + c
        np.testing.assert_allclose(logits, expected, rtol=1e-4, atol=2e-4)
    else:
        np.testing.assert_allclose(logits, merged_network, rtol=1e-5, atol=1e-5)

    export = LoadedExport(result["export_path"])
    assert export.fingerprint == result["model_fingerprint"]
    served = export.predict_columns({n: list(rows[n]) for n in export.input_specs})["probability"]
    np.testing.assert_allclose(served, 1 / (1 + np.exp(-logits)), rtol=1e-4, atol=1e-5)

    again = run_training(dataclasses.replace(config, export=False, evidence=False), log=quiet)
    assert again["model_fingerprint"] == result["model_fingerprint"]  # a rerun resumes the members, merges again


@pytest.mark.parametrize("preset", ["accurate", "paper"])
def test_a_spec_with_a_single_numeric_column_trains_evaluates_and_exports(tmp_path, preset):
    """The smallest spec a user can write (one numeric column): the logistic warm start, the scorecard, the
    evidence and the export all work on it (the warm start once failed on a one-column matrix)."""
    from wide_deep.api import run_config

    rng = np.random.default_rng(0)
    x = rng.normal(size=1500)
    frame = pd.DataFrame({"x": x, "y": (rng.random(1500) < 1 / (1 + np.exp(-1.5 * x))).astype(int)})
    frame.to_csv(tmp_path / "one.csv", index=False)
    (tmp_path / "one.yaml").write_text("name: one\nlabel: {column: y}\ncolumns:\n  - {name: x, type: numeric}\n")
    config = run_config(preset, tmp_path / "run", epochs=2, warm_start="logistic")
    config = dataclasses.replace(config, dataset=str(tmp_path / "one.csv"), spec=str(tmp_path / "one.yaml"))
    result = run_training(config, log=quiet)
    assert result["auc"] > 0.7 and ModelDir(tmp_path / "run").export_versions()


def test_an_out_of_time_run_tests_on_the_latest_applications(small_sme, tmp_path):
    from tests.conftest import sme_config
    from wide_deep.evidence.report import ReportInputs, _split_design

    config = sme_config(small_sme, tmp_path, split="time", export=False, evidence=False)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1))
    result = run_training(config, log=quiet)
    split = result["data_report"]["split"]
    assert split["design"] == "time" and split["date_column"] == "application_date"
    periods = split["periods"]
    assert periods["train"][1] <= periods["valid"][0] <= periods["valid"][1] <= periods["test"][0]
    stub = ReportInputs(ModelDir(tmp_path), result, {}, ModelDir(tmp_path).load_config(), None, None, None, 0)
    assert _split_design(stub).startswith("An out-of-time 60/20/20 split on application_date (train ")
    with pytest.raises(UserError, match="--split=time splits one file by date"):
        prepare_data(dataclasses.replace(config, train_data=str(small_sme / "*.parquet")), log=quiet)
