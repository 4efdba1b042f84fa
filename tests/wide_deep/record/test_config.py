"""RunConfig: one config per run, round-tripped through JSON."""

import json

from wide_deep.core.config import ModelConfig, TrainConfig
from wide_deep.record.config import RunConfig


def test_config_round_trips_through_json():
    config = RunConfig(
        dataset="taiwan",
        include_protected=True,
        scorecard=(500.0, 20.0, 40.0),
        model=ModelConfig(hidden_units=(32, 16), dropout=0.1),
        train=TrainConfig(epochs=7, seed=3),
    )
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config and isinstance(again.model.hidden_units, tuple) and isinstance(again.scorecard, tuple)
    older = config.to_dict() | {"a_setting_from_another_version": 1}
    assert RunConfig.from_dict(older) == config


def test_sharded_input_is_decided_by_the_files():
    assert not RunConfig().sharded and not RunConfig(train_data="data/x.csv").sharded
    assert RunConfig(train_data="data/train-*.parquet").sharded
    assert RunConfig(valid_data="v.parquet").sharded and RunConfig(streaming=True).sharded


def test_model_shaping_is_what_a_resume_must_match():
    shaping = RunConfig().model_shaping()
    assert set(shaping["train"]) == {"batch_size", "seed", "wide_optimizer", "deep_optimizer", "deterministic"}
    assert RunConfig(train=TrainConfig(epochs=99)).model_shaping() == shaping  # more epochs: still resumable
    assert RunConfig(use_crosses=False).model_shaping() != shaping
