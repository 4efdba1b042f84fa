"""Stages of a run that decide what the model keeps: the readability floor on the network's opaque part."""

from __future__ import annotations

import dataclasses

from tests.conftest import quiet, sme_config


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
