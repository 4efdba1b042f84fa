"""Who this process is in a run: one worker, or one of several under MultiWorkerMirroredStrategy.

The cluster comes from the `TF_CONFIG` environment variable, read and checked here once;
the rest of the code asks a `ClusterIdentity` (worker index, number of workers, chief or not).
"""

from __future__ import annotations

import dataclasses
import json
import os

from feature_columns.errors import UserError

TF_CONFIG_EXAMPLE = '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'


@dataclasses.dataclass(frozen=True)
class ClusterIdentity:
    worker_index: int = 0
    num_workers: int = 1

    @property
    def is_chief(self) -> bool:
        """Worker 0 writes the run's model_dir, the evidence and the export."""
        return self.worker_index == 0

    @classmethod
    def from_strategy(cls, strategy) -> ClusterIdentity:
        """The identity a `tf.distribute` strategy gives (the default strategy: one worker)."""
        if strategy is None:
            return cls()
        resolver = getattr(strategy, "cluster_resolver", None)
        index = int(resolver.task_id or 0) if resolver is not None and resolver.task_type else 0
        return cls(index, int(strategy.num_replicas_in_sync))


def check_tf_config(raw: str | None) -> dict:
    """The parsed TF_CONFIG of a worker task, or a UserError saying what is wrong with it."""
    if not raw:
        raise UserError(
            "--distribution=multi_worker needs the TF_CONFIG environment variable (cluster and task; see README)"
        )
    problem = f"TF_CONFIG must look like {TF_CONFIG_EXAMPLE}; got {raw!r}"
    try:
        config = json.loads(raw)
        workers, task = config["cluster"]["worker"], config["task"]
        index = int(task["index"])
    except (ValueError, KeyError, TypeError):
        raise UserError(problem) from None
    if not isinstance(workers, list) or task.get("type") != "worker" or not 0 <= index < len(workers):
        raise UserError(problem)
    return config


def multi_worker_strategy():
    """MultiWorkerMirroredStrategy from TF_CONFIG; created before any other TensorFlow op, as it must be."""
    check_tf_config(os.environ.get("TF_CONFIG"))
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def peer_failures() -> tuple[type, ...]:
    """The errors a worker sees when another worker of its cluster has stopped (its collectives fail)."""
    import tensorflow as tf

    return (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError)


def describe_peer_failure(error: Exception) -> str:
    first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
    return (
        f"another worker of the cluster stopped ({type(error).__name__}: {first[:300]}). "
        f"MultiWorkerMirroredStrategy cannot go on without it; rerun the same command on every worker to resume "
        f"from the newest checkpoint all of them hold."
    )
