"""Stages of a run that decide what the model keeps: the trained network over its starting scorecard, the
readability floor on the network's opaque part."""

from __future__ import annotations

import dataclasses

import numpy as np

from tests.conftest import quiet, sme_config


def test_a_network_that_does_not_clearly_beat_its_starting_scorecard_is_left_out(small_sme, tmp_path):
    from wide_deep.ranking import auc
    from wide_deep.record.model_dir import ModelDir
    from wide_deep.run.pipeline import run_training
    from wide_deep.run.prepared import prepare_data

    config = sme_config(small_sme, tmp_path / "strict", evidence=False, export=False)
    # a bar no network clears on 600 validation rows: the model goes back to the warm start's regression
    strict = dataclasses.replace(
        config, model=dataclasses.replace(config.model, wide_gbdt=False, min_network_gain_se=50)
    )
    said = []
    result = run_training(strict, log=said.append)
    line = next(s for s in said if s.startswith("trained network"))
    assert line.startswith("trained network left out: validation AUC") and "--min_network_gain_se=50" in line, line
    assert result["network_kept"] is False and result["best_epoch"] == 0
    start_auc = float(next(s for s in said if s.startswith("logistic regression for the wide branch")).split()[-1][:-1])
    run = ModelDir(strict.model_dir)
    estimator = run.load_estimator(log=quiet)  # the run's model, reopened: the scorecard, its deep output at zero
    assert not np.any(estimator.core.get_layer("deep_logit").kernel.numpy())
    valid = prepare_data(strict, log=quiet, state=run.load_state()).splits["valid"]
    assert round(auc(valid.labels, estimator.logits_encoded(estimator.encode(valid.arrays))), 4) == start_auc

    lenient = dataclasses.replace(strict, model_dir=str(tmp_path / "lenient"))
    lenient = dataclasses.replace(lenient, model=dataclasses.replace(lenient.model, min_network_gain_se=0))
    said.clear()
    result = run_training(lenient, log=said.append)
    assert not any(s.startswith("trained network") for s in said) and result["network_kept"] is None


def test_the_readability_floor_scales_the_deep_term_down_until_it_holds(small_sme, tmp_path):
    from wide_deep.evidence.scorecard import readable_parts, share_of
    from wide_deep.record.model_dir import ModelDir
    from wide_deep.run.pipeline import run_training
    from wide_deep.run.prepared import prepare_data

    config = sme_config(small_sme, tmp_path / "m", accurate=False)
    model = dataclasses.replace(config.model, scorecard="full", min_readable_share=0.99)
    config = dataclasses.replace(config, model=model, evidence=False, export=False)
    said = []
    result = run_training(config, log=said.append)
    line = next(s for s in said if s.startswith("readable share on validation"))
    assert "scaled by" in line, line  # a network trained for 8 epochs carries more than 1% of the logit
    run = ModelDir(config.model_dir)
    estimator = run.load_estimator(log=quiet)  # the scaled network is the run's model
    valid = prepare_data(config, log=quiet, state=run.load_state()).splits["valid"]
    encoded = estimator.encode(valid.arrays)
    assert share_of(*readable_parts(estimator, encoded, estimator.logits_encoded(encoded))) >= 0.99 - 1e-6
    assert result["readable_share"] > 0.9  # on test too, nearly


def test_the_refit_changes_only_the_wide_columns_and_the_reopened_run_holds_it(small_sme, tmp_path):
    from wide_deep.evidence.scorecard import wide_weights
    from wide_deep.record.model_dir import ModelDir
    from wide_deep.run.pipeline import run_training

    config = sme_config(small_sme, tmp_path / "chosen", evidence=False, export=False)
    chosen = run_training(config, log=quiet)
    refitted = dataclasses.replace(
        config, model_dir=str(tmp_path / "refit"), model=dataclasses.replace(config.model, refit_scorecard=True)
    )
    said = []
    result = run_training(refitted, log=said.append)
    line = next(s for s in said if s.startswith("scorecard refitted"))
    assert f"({result['n_train'] + result['n_valid']:,} rows, C=" in line, line
    assert result["refit_rows"] == result["n_train"] + result["n_valid"] and chosen["refit_rows"] is None
    assert ModelDir(config.model_dir).load_refit() is None
    # what is read on validation comes from the validated model's scores, before the refit: out of sample
    assert (result["valid_auc"], result["threshold"]) == (chosen["valid_auc"], chosen["threshold"])
    assert result["auc"] != chosen["auc"]  # while the test split is scored by the refitted model

    run = ModelDir(refitted.model_dir)
    estimator = run.load_estimator(log=quiet)  # the reopened run is the refitted model the metrics measured
    assert estimator.fingerprint() == result["model_fingerprint"] != chosen["model_fingerprint"]
    before, after = ModelDir(config.model_dir).load_estimator(log=quiet), estimator
    width = run.load_refit().table.size
    old, new = wide_weights(before), wide_weights(after)
    assert np.abs(old["table"][:width] - new["table"][:width]).max() > 1e-3  # the columns moved
    np.testing.assert_array_equal(old["table"][width:], new["table"][width:])  # the trees' leaves did not
    np.testing.assert_array_equal(  # nor did the network
        before.core.get_layer("deep_logit").kernel.numpy(), after.core.get_layer("deep_logit").kernel.numpy()
    )
