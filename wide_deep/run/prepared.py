"""The data of a run, prepared once: loaded, validated, split, with the preprocessing fitted on the training rows.

`prepare_data` decides how training reads its rows (in memory, sharded or streamed: `TrainingInput`) and fits
the spec's state on the training rows only. The CLI and the ablation and sensitivity drivers share one
`PreparedData` across every run that uses the same data, spec and split. No TensorFlow here: a run reports its
data within seconds.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd

from feature_columns.errors import UserError
from feature_columns.fitting import FittedState, fit_state, quality_report
from feature_columns.spec import UNNAMED, FeatureSpec
from wide_deep.core.cluster import ClusterIdentity
from wide_deep.data import registry
from wide_deep.data.dataset import LoadedData, Split, load_dataset
from wide_deep.data.registry import DatasetInfo
from wide_deep.data.shards import ShardOptions, load_sharded
from wide_deep.data.sources import transactions_path
from wide_deep.data.training_input import TrainingInput
from wide_deep.record.config import RunConfig
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


def refuse_time_split(config: RunConfig) -> None:
    """Sharded data comes split in its files: an out-of-time split has nothing to cut."""
    if config.split != "random":
        raise UserError("--split=time splits one file by date; sharded data comes already split in its files")


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
        loaded = load_dataset(spec, given.data, split_seed=config.split_seed, log=log, split=config.split)
    elif config.sharded:
        refuse_time_split(config)
        loaded = load_sharded(
            spec,
            config.train_data or str(info.data),
            config.valid_data,
            config.test_data,
            ShardOptions(
                cluster.num_workers, cluster.worker_index, config.fit_shards, config.streaming, config.shuffle_window
            ),
            truth=info.truth,
            log=log,
        )
    else:
        registry.ensure_generated(info, config.num_enterprises, config.data_seed, log)
        loaded = load_dataset(
            spec, info.data, split_seed=config.split_seed, truth_path=info.truth, log=log, split=config.split
        )
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
