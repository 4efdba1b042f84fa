"""The three ways training rows reach the trainer, and the drivers that need them in memory."""

import pytest

from feature_columns.errors import UserError
from wide_deep.data.training_input import TrainingInput, require_in_memory
from wide_deep.record.config import RunConfig


class FakeStream:
    total_rows = 1000


def test_rows_per_epoch_and_share():
    assert TrainingInput.in_memory(600).rows_per_epoch == 600 and not TrainingInput.in_memory(600).holds_own_share
    sharded = TrainingInput.sharded(250, 2)
    assert sharded.rows_per_epoch == 500 and sharded.holds_own_share and not sharded.is_streamed
    streamed = TrainingInput.streamed(FakeStream())
    assert streamed.is_streamed and streamed.rows_per_epoch == 1000
    with pytest.raises(UserError, match="the ablation needs the training rows in memory"):
        streamed.require_held("the ablation")
    with pytest.raises(ValueError):
        TrainingInput("streamed", 10)  # a streamed input without its stream


def test_drivers_refuse_a_streaming_config():
    require_in_memory(RunConfig(), "the ablation")
    with pytest.raises(UserError, match="--streaming is for experiments.train: the ablation"):
        require_in_memory(RunConfig(streaming=True), "the ablation")
