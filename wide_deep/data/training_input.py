"""How the training rows reach the trainer: held in memory, held as this worker's shard, or streamed.

The pipeline and the trainer receive a `TrainingInput` instead of flags, tuples or report
keys, so the three modes are decided once, where the data is loaded:

- `in_memory`: every worker holds the whole train split; in a multi-worker run each worker
  trains its part of every batch of one shared, seeded epoch order;
- `sharded`: each worker holds only its own, equal-sized share of the training files;
- `streamed`: the training files are read again every epoch (`wide_deep.data.shards.TrainStream`)
  and never held; the preprocessing is fitted on a sample of them (the fitting files).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

from feature_columns.errors import UserError


class Stream(Protocol):
    """What the trainer needs of streamed training files (`wide_deep.data.shards.TrainStream` is one)."""

    total_rows: int  # rows trained per epoch by all workers together

    def dataset(self, encode, batch_size: int, seed: int, epoch, parallel: int = 4): ...  # an epoch's batches

    def reraise_data_error(self) -> None: ...  # a user mistake found while reading, raised as itself


IN_MEMORY, SHARDED, STREAMED = "in_memory", "sharded", "streamed"


@dataclasses.dataclass(frozen=True)
class TrainingInput:
    kind: str
    rows_per_epoch: int  # rows trained per epoch by all workers together
    stream: Stream | None = None  # streamed only

    def __post_init__(self):
        if self.kind not in (IN_MEMORY, SHARDED, STREAMED):
            raise ValueError(f"unknown training input kind {self.kind!r}")
        if (self.kind == STREAMED) != (self.stream is not None):
            raise ValueError("a streamed training input needs its stream, and only it has one")

    @classmethod
    def in_memory(cls, rows: int) -> TrainingInput:
        return cls(IN_MEMORY, int(rows))

    @classmethod
    def sharded(cls, rows_per_worker: int, workers: int) -> TrainingInput:
        return cls(SHARDED, int(rows_per_worker) * int(workers))

    @classmethod
    def streamed(cls, stream: Stream) -> TrainingInput:
        return cls(STREAMED, int(stream.total_rows), stream)

    @property
    def is_streamed(self) -> bool:
        return self.kind == STREAMED

    @property
    def holds_own_share(self) -> bool:
        """Each worker holds only its own share of the rows (no need to take its part of a shared order)."""
        return self.kind == SHARDED

    def require_held(self, what: str) -> None:
        if self.is_streamed:
            raise UserError(f"{what} needs the training rows in memory; the training input is streamed")


def require_in_memory(config, what: str) -> None:
    """`what` (a driver that holds every training row, such as the ablation) refuses a streamed config."""
    if config.streaming:
        raise UserError(
            f"--streaming is for experiments.train: {what} holds the training split in memory; run it "
            f"without --streaming"
        )
