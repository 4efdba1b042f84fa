"""The run loop behind `experiments/train.py`: data → fit preprocessing → train → evaluate → export.

`prepare_data` loads and splits the data once (the in-memory, sharded or streamed
`TrainingInput` is decided there) and fits the preprocessing on the training rows;
`wide_deep.run.training.train_and_evaluate` encodes each split once and hands the same
tensors to training, evaluation and the evidence; `run_training` is the two together for one
worker of a run. This module does not import TensorFlow: a run reports its data within
seconds, and TensorFlow loads while the model is built.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from feature_columns.fitting import FittedState, fit_state, quality_report
from feature_columns.spec import UNNAMED, FeatureSpec
from wide_deep.core.cluster import ClusterIdentity
from wide_deep.data import registry
from wide_deep.data.dataset import LoadedData, Split, load_dataset
from wide_deep.data.registry import DatasetInfo
from wide_deep.data.shards import load_sharded
from wide_deep.data.sources import transactions_path
from wide_deep.data.training_input import TrainingInput
from wide_deep.record.config import RunConfig
from wide_deep.record.model_dir import ModelDir
from wide_deep.record.provenance import data_checksums


@dataclasses.dataclass
class PreparedData:
    """A loaded, validated and split dataset with its preprocessing fitted on the training rows.

    Built once and shared by every run that uses the same data, spec and split (the CLI,
    and the ablation and sensitivity drivers across variants and seeds).

    `splits` holds "valid" and "test", and "train" when the training rows are held;
    `reference` is the training sample the evidence compares with (the train split, or the
    fitting files when `training` is streamed).
    """

    info: DatasetInfo
    spec: FeatureSpec
    state: FittedState
    splits: dict[str, Split]
    reference: Split
    training: TrainingInput
    report: dict
    quality: dict

    def limited(self, seed: int, **limits: int) -> PreparedData:
        """A seeded random subset of at most `limits[split]` rows per split (quick runs and tests)."""
        loaded = LoadedData(self.splits, {}, self.reference, self.training, self.report).limited(seed, **limits)
        return dataclasses.replace(self, splits=loaded.splits, reference=loaded.reference, training=loaded.training)


@dataclasses.dataclass(frozen=True)
class GivenData:
    """Data (a DataFrame or a file) and its spec handed over in Python (`wide_deep.api`), in place of the files
    the config names."""

    data: pd.DataFrame | Path
    spec: FeatureSpec

    @property
    def info(self) -> DatasetInfo:
        path = Path("DataFrame") if isinstance(self.data, pd.DataFrame) else Path(self.data)
        return DatasetInfo(self.spec.name, path, Path("(a FeatureSpec given in Python)"))


def prepare_data(
    config: RunConfig,
    log=print,
    state: FittedState | None = None,
    cluster: ClusterIdentity = ClusterIdentity(),
    given: GivenData | None = None,
) -> PreparedData:
    """Resolve, (generate,) load, validate and split the data; fit preprocessing on train unless `state` is given.

    With a glob (or explicit valid/test files), the splits come from files and this worker
    reads only its share of the training files (`wide_deep.data.shards`); with `given`, from that
    data and spec (the config's dataset and spec are then only their names).
    """
    if given is not None:
        info, spec = given.info, given.spec
    else:
        info = registry.resolve(config.dataset, config.train_data, config.spec)
        spec = FeatureSpec.from_yaml(info.spec)
    if config.model.sequences_for(bool(spec.sequences)) == "aggregates":
        spec = spec.without_sequences()  # nor computed from the log, nor read
    if config.dataset not in registry.BUILTIN_NAMES and spec.name != UNNAMED:  # a user's file goes by its spec's name
        info = dataclasses.replace(info, name=spec.name)
    if given is not None:
        loaded = load_dataset(spec, given.data, split_seed=config.split_seed, log=log)
    elif config.sharded:
        loaded = load_sharded(
            spec,
            config.train_data or str(info.data),
            config.valid_data,
            config.test_data,
            num_workers=cluster.num_workers,
            worker_index=cluster.worker_index,
            fit_shards=config.fit_shards,
            streaming=config.streaming,
            shuffle_window=config.shuffle_window,
            truth=info.truth,
            log=log,
        )
    else:
        registry.ensure_generated(info, config.num_enterprises, config.data_seed, log)
        loaded = load_dataset(spec, info.data, split_seed=config.split_seed, truth_path=info.truth, log=log)
    sources = (
        [given.data] if given is not None else [config.train_data or info.data, config.valid_data, config.test_data]
    )
    if spec.transactions is not None and given is None and not config.sharded:
        sources.append(transactions_path(spec.transactions, info.data))
    report = {**loaded.report, "sha256": data_checksums(sources)}  # what the run read, for the governance file
    fitted_now = state is None
    if fitted_now:
        state = fit_state(spec, loaded.fit_arrays)  # training data only
    evaluated = {"train": loaded.reference, "valid": loaded.splits["valid"], "test": loaded.splits["test"]}
    quality = {
        name: quality_report(spec, state, split.arrays, fitted_here=name == "train" and fitted_now)
        for name, split in evaluated.items()
    }
    labels = np.concatenate([split.labels for split in evaluated.values()])
    sizes = [loaded.training.rows_per_epoch, len(evaluated["valid"]), len(evaluated["test"])]
    log(
        f"{info.name}: default rate {labels.mean():.3f}; train/valid/test "
        + "/".join(f"{n:,}" for n in sizes)
        + (" rows (from the split files)" if config.sharded else f" rows (split seed {config.split_seed})")
    )
    for name, counts in quality.items():
        if counts:
            log(
                f"  {name}: "
                + "; ".join(f"{col} {', '.join(f'{k}={v:,}' for k, v in c.items())}" for col, c in counts.items())
            )
    return PreparedData(info, spec, state, loaded.splits, loaded.reference, loaded.training, report, quality)


def run_training(config: RunConfig, log=print, strategy=None, given: GivenData | None = None) -> dict:
    """What `experiments/train.py` does: prepare the data, then train, evaluate and export one model.

    Under a multi-worker `strategy` every worker runs this same function in lockstep (the
    gradients are all-reduced); the chief (worker 0) writes `config.model_dir`, every other
    worker its own `model_dir/worker<k>` (its checkpoints, for resuming) and skips the
    evidence and the export.
    """
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
