"""The run loop behind `experiments/train.py`: prepare the data (`wide_deep.run.prepared`), then train, evaluate,
collect the evidence and export (`wide_deep.run.training`, a sequence of named stages).

This module does not import TensorFlow: a run reports its data within seconds, and TensorFlow loads while the
model is built.
"""

from __future__ import annotations

import dataclasses
import sys

from wide_deep.core.cluster import ClusterIdentity
from wide_deep.record.config import RunConfig
from wide_deep.record.model_dir import ModelDir, refuse_inside_runs
from wide_deep.run.prepared import GivenData, prepare_data


def run_training(config: RunConfig, log=print, strategy=None, given: GivenData | None = None) -> dict:
    """What `experiments/train.py` does: prepare the data, then train, evaluate and export one model.

    Under a multi-worker `strategy` every worker runs this same function in lockstep (the
    gradients are all-reduced); the chief (worker 0) writes `config.model_dir`, every other
    worker its own `model_dir/worker<k>` (its checkpoints, for resuming) and skips the
    evidence and the export.
    """
    refuse_inside_runs(config.model_dir, "--model_dir")  # a run is never written into another run or an export
    cluster = ClusterIdentity.from_strategy(strategy)
    with_evidence = True
    if not cluster.is_chief:
        config = dataclasses.replace(
            config, model_dir=str(ModelDir(config.model_dir).worker(cluster.worker_index)), export=False
        )
        with_evidence = False
    run = ModelDir(config.model_dir)
    run.claim()  # before the data is read: a bad --model_dir fails in a second, not after loading
    state = run.load_state() if run.has_state() and run.is_run() else None
    data = prepare_data(config, log, state=state, cluster=cluster, given=given)
    if "tensorflow" not in sys.modules:
        log("loading TensorFlow")
    from wide_deep.run.training import train_and_evaluate  # TensorFlow loads here, once the data is ready

    return train_and_evaluate(config, data, log, with_evidence=with_evidence, strategy=strategy)
