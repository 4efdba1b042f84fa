"""Train one model on prepared data, evaluate it on test, collect the evidence and export it: the stages of
`wide_deep.run.stages`, in order, over one `TrainingRun`.

Each split is encoded once and the same tensors serve training, evaluation, the warm start and the evidence.
"""

from __future__ import annotations

import time

from wide_deep.record.config import RunConfig
from wide_deep.run.prepared import PreparedData
from wide_deep.run.stages import STAGES, TrainingRun


def train_and_evaluate(
    config: RunConfig,
    data: PreparedData,
    log=print,
    on_epoch_end=None,
    keep_scores: bool = False,
    with_evidence: bool = True,
    strategy=None,
) -> dict:
    """Train one model in `config.model_dir` on prepared data, evaluate on test, export; returns metrics.

    With `keep_scores`, the result also holds the validation and test probabilities (not saved).
    `with_evidence=False` skips the credit-risk evidence (the ablation and sensitivity sweeps,
    which compare many runs on the metrics alone).
    """
    run = TrainingRun(config, data, log, strategy, on_epoch_end, with_evidence)
    for stage in STAGES:
        started = time.perf_counter()
        stage(run)
        run.stage_seconds[stage.__name__] = time.perf_counter() - started
    if keep_scores:
        return {**run.result, "scores": {"valid": run.scores["valid"], "test": run.scores["test"]}}
    return run.result
