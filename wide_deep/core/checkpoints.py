"""A trainer's checkpoints: the last two epochs (to resume) and the best validation weights (the model a run keeps).

The epoch checkpoints hold everything a resumed run needs (the core, both optimizers, the epoch, the early-stopping
state); the best checkpoint holds the core alone. A damaged newest epoch checkpoint is skipped for the one before
it; across workers, every worker resumes from the newest epoch all of them hold.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from feature_columns.errors import UserError, first_line

READ_ERRORS = (tf.errors.OpError, ValueError, IndexError, AssertionError)  # how a damaged checkpoint fails to load


@dataclasses.dataclass(frozen=True)
class TrainingFiles:
    """Where a trainer keeps its state: epoch checkpoints, the best weights, summaries and the history."""

    checkpoints: Path
    best: Path
    summaries: Path
    history: Path


class Checkpoints:
    """Save and restore a trainer's epoch checkpoints (`trackables`) and its best weights (`core`)."""

    def __init__(self, files: TrainingFiles, trackables: dict, core, log=print):
        self.files, self.log = files, log
        self.epoch_checkpoint = tf.train.Checkpoint(**trackables)
        self.manager = tf.train.CheckpointManager(self.epoch_checkpoint, files.checkpoints, max_to_keep=2)
        self.best_checkpoint = tf.train.Checkpoint(core=core)
        self.best_manager = tf.train.CheckpointManager(self.best_checkpoint, files.best, max_to_keep=1)

    def save_epoch(self, epoch: int) -> None:
        self.manager.save(checkpoint_number=epoch)

    def save_best(self, epoch: int) -> None:
        """The core's current weights as the run's model (`epoch` 0: a warm start, a merged or blended model)."""
        self.best_manager.save(checkpoint_number=epoch)

    @property
    def has_best(self) -> bool:
        return bool(self.best_manager.latest_checkpoint)

    def restore_latest(self) -> str | None:
        """Restore the newest readable epoch checkpoint; its path (None: nothing to resume).

        A truncated, corrupt or missing newest checkpoint is skipped, with a line saying so, for the
        one before it (the last two are kept); a damaged `checkpoint` index file is noticed and the
        checkpoint files themselves are used.
        """
        for path in self._newest_first():
            try:
                self.epoch_checkpoint.restore(path).assert_existing_objects_matched()
                return path
            except READ_ERRORS as err:
                self.log(f"checkpoint {path} is unreadable ({first_line(err)}); trying the one before it")
        return None

    def restore_shared(self, strategy, cluster, epoch_limit: int) -> str | None:
        """Under multi-worker training: restore the newest epoch checkpoint every worker holds; its path.

        A worker killed between epoch ends can leave the others one checkpoint ahead; resuming each from its own
        latest would put the workers on different epochs (and different collectives). Workers keep their last
        two checkpoints, and the all-reduced sum of "which epochs do I have" picks the newest one all share.
        """
        available = np.zeros(epoch_limit + 1, np.float32)
        available[0] = 1.0  # epoch 0: a fresh start, always possible
        for path in self.manager.checkpoints:
            epoch = _epoch_of(path)
            if epoch < len(available):
                available[epoch] = 1.0
        local = tf.constant(available)

        @tf.function
        def count_workers():
            return strategy.run(
                lambda: tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, local)
            )

        counts = strategy.experimental_local_results(count_workers())[0].numpy()
        epoch = int(np.flatnonzero(counts == cluster.num_workers).max())
        latest = self.manager.latest_checkpoint
        if epoch and latest and _epoch_of(latest) != epoch:
            self.log(
                f"worker {cluster.worker_index}: its newest checkpoint is ahead of another worker's; all resume "
                f"from epoch {epoch}"
            )
        if not epoch:
            return None
        path = next(path for path in self.manager.checkpoints if _epoch_of(path) == epoch)
        self.epoch_checkpoint.restore(path).assert_existing_objects_matched()
        return path

    def restore_best(self) -> None:
        """Load the best validation weights (the model this run stands for); a damaged copy is a clear error."""
        path = self.best_manager.latest_checkpoint
        if not path:
            return
        try:
            self.best_checkpoint.restore(path).assert_existing_objects_matched()
        except READ_ERRORS as err:
            raise UserError(
                f"the best weights {path} are unreadable ({first_line(err)}); this run's chosen model "
                f"is lost: train again in a new --model_dir"
            ) from None

    def _newest_first(self) -> list[str]:
        """Epoch checkpoints on disk, newest first: the manager's list, or the files when its index is damaged."""
        listed = list(reversed(self.manager.checkpoints))
        on_disk = sorted(
            (str(p.with_suffix("")) for p in Path(self.files.checkpoints).glob("ckpt-*.index")),
            key=_epoch_of,
            reverse=True,
        )
        if on_disk and not listed:
            self.log(
                f"{self.files.checkpoints}/checkpoint (the index of the checkpoints) is missing or unreadable; "
                f"resuming from the checkpoint files themselves"
            )
        return listed + [path for path in on_disk if path not in listed]


def _epoch_of(path: str) -> int:
    return int(str(path).rsplit("-", 1)[1])
