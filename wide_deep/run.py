"""The run loop behind `experiments/train.py`: data → fit preprocessing → train → evaluate → export."""
from __future__ import annotations

import dataclasses
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd

from feature_columns.errors import UserError
from feature_columns.fitting import fit_state, load_state, quality_report, save_state
from feature_columns.spec import FeatureSpec
from wide_deep import datasets, evidence, metrics
from wide_deep.calibration import fit_calibrator
from wide_deep.config import RunConfig
from wide_deep.data import Dataset, load_dataset
from wide_deep.export import export_saved_model
from wide_deep.shards import TrainStream, is_glob, load_sharded
from wide_deep.model import ModelConfig, log_odds
from wide_deep.synthetic import GeneratorConfig, generate
from wide_deep.trainer import Estimator, TrainConfig, layout_summary, save_json, steady_state_throughput
TABLE_KEYS = ("auc", "gini", "ks", "log_loss", "brier", "threshold", "precision", "recall", "f1",
              "precision_weighted", "recall_weighted", "f1_weighted", "accuracy", "f1_at_0_5", "f1_weighted_at_0_5")


def ensure_synthetic_data(info: datasets.DatasetInfo, config: RunConfig, log=print) -> None:
    """Generate the default SME data when it is absent (so `make train` works on a fresh clone)."""
    if info.synthetic and not info.data.exists():
        log(f"{info.data} not found: generating {config.num_enterprises:,} synthetic enterprises (seed {config.data_seed})")
        generate(GeneratorConfig(num_enterprises=config.num_enterprises, seed=config.data_seed), info.data.parent, log=log)


def check_model_dir(model_dir: Path, config: RunConfig, spec: FeatureSpec) -> bool:
    """True when model_dir already holds a compatible run (resume); error when it holds a different one."""
    saved = model_dir / "config.json"
    if not saved.exists():
        return False
    previous = json.loads(saved.read_text())
    now = json.loads(json.dumps(config.model_shaping(), default=str))
    saved_spec = model_dir / "spec.yaml"
    if previous.get("model_shaping") != now or not saved_spec.exists() or saved_spec.read_text() != spec.to_yaml():
        changed = sorted(k for k in now if previous.get("model_shaping", {}).get(k) != now[k]) or ["spec"]
        raise UserError(f"--model_dir={model_dir} holds a run with different settings ({', '.join(changed)}); "
                        f"use a new --model_dir or delete that one")
    return True


def format_table(result: dict) -> str:
    lines = [f"{'metric':<22}{'test':>10}"]
    lines += [f"{k:<22}{result[k]:>10.4f}" for k in TABLE_KEYS if k in result]
    if result.get("oracle_auc") is not None:
        lines.append(f"{'oracle_auc':<22}{result['oracle_auc']:>10.4f}   (true probabilities; the best any model can reach)")
        lines.append(f"{'gap_to_oracle':<22}{result['oracle_auc'] - result['auc']:>10.4f}")
    lines.append(f"{'n_train/valid/test':<22}{result['n_train']:>10,} / {result['n_valid']:,} / {result['n_test']:,}")
    lines.append(f"{'train examples/s':<22}{result['train_examples_per_sec']:>10,.0f}   (steady-state median, batch {result['batch_size']})")
    return "\n".join(lines)


@dataclasses.dataclass
class PreparedData:
    """A loaded, validated and split dataset with its preprocessing fitted on the training split.

    Built once and shared by every run that uses the same data, spec and split (the CLI,
    and the ablation and sensitivity drivers across variants and seeds).
    """
    info: datasets.DatasetInfo
    spec: FeatureSpec
    dataset: Dataset
    state: dict
    quality: dict
    stream: TrainStream | None = None   # streamed training files (the train split then holds the fitting files)

    def split(self, name: str):
        return self.dataset.split(name)


def prepare_data(config: RunConfig, log=print, state: dict | None = None, shard: tuple[int, int] = (0, 1)) -> PreparedData:
    """Resolve, (generate,) load, validate and split the data; fit preprocessing on train unless `state` is given.

    With a glob (or explicit valid/test files), the splits come from files and worker
    `shard[0]` of `shard[1]` reads only its share of the training files (`wide_deep.shards`).
    """
    info = datasets.resolve(config.dataset, config.train_data, config.spec)
    spec = FeatureSpec.from_yaml(info.spec)
    stream = None
    if is_glob(config.train_data) or config.valid_data or config.test_data or config.streaming:
        dataset, fit_arrays, stream = load_sharded(
            spec, config.train_data or str(info.data), config.valid_data, config.test_data, num_workers=shard[1],
            worker_index=shard[0], fit_shards=config.fit_shards, streaming=config.streaming,
            shuffle_window=config.shuffle_window, truth=info.truth, log=log)
    else:
        ensure_synthetic_data(info, config, log)
        dataset = load_dataset(spec, info.data, split_seed=config.split_seed, truth_path=info.truth, log=log)
        fit_arrays = dataset.split("train")[0]
    if state is None:
        state = fit_state(spec, fit_arrays)   # training data only
    quality = {name: quality_report(spec, state, dataset.split(name)[0]) for name in ("train", "valid", "test")}
    sizes = [stream.total_rows if stream else len(dataset.split_indices["train"])] + \
        [len(dataset.split_indices[k]) for k in ("valid", "test")]
    log(f"{info.name}: default rate {dataset.labels.mean():.3f}; train/valid/test "
        + "/".join(f"{n:,}" for n in sizes)
        + (" rows (from the split files)" if dataset.report.get("train_files") else f" rows (split seed {config.split_seed})"))
    for name, counts in quality.items():
        if counts:
            log(f"  {name}: " + "; ".join(f"{col} {', '.join(f'{k}={v:,}' for k, v in c.items())}" for col, c in counts.items()))
    return PreparedData(info, spec, dataset, state, quality, stream)


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB.

    Linux's VmHWM, when there is one: `ru_maxrss` of a process started by fork+exec includes
    the RSS its parent had at the fork, so a small run launched by a big one would report the
    parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024   # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def trained_rows(data: PreparedData) -> int:
    """Training rows per epoch, all workers together (under sharded input each worker holds only its share)."""
    if data.stream is not None:
        return int(data.stream.total_rows)
    return int(data.dataset.report.get("train_rows_all_workers") or len(data.dataset.split_indices["train"]))


def train_and_evaluate(config: RunConfig, data: PreparedData, log=print, on_epoch_end=None,
                       keep_scores: bool = False, with_evidence: bool = True, strategy=None, presharded: bool = False) -> dict:
    """Train one model in `config.model_dir` on prepared data, evaluate on test, export; returns metrics.

    With `keep_scores`, the result also holds the validation and test probabilities (not saved).
    `with_evidence=False` skips the credit-risk evidence (the ablation and sensitivity sweeps,
    which compare many runs on the metrics alone).
    """
    t_start = time.perf_counter()
    spec, model_dir = data.spec, Path(config.model_dir)
    resuming = check_model_dir(model_dir, config, spec)
    state_path = model_dir / "preprocessing.json"
    if resuming and state_path.exists() and load_state(state_path) != data.state:
        raise UserError(f"--model_dir={model_dir} was trained with preprocessing fitted on different data; use a new --model_dir")
    model_dir.mkdir(parents=True, exist_ok=True)
    spec.to_yaml(model_dir / "spec.yaml")
    save_state(data.state, state_path)
    save_json(model_dir / "config.json", {"model_shaping": config.model_shaping(), "config": config.to_dict()})
    train_x, train_y = data.split("train")
    valid_x, valid_y = data.split("valid")
    test_x, test_y = data.split("test")

    routed = spec.for_model(config.model.model_type, config.use_crosses, config.include_protected)
    model_config = dataclasses.replace(config.model, initial_bias=log_odds(float(train_y.mean())))
    estimator = Estimator(model_dir, routed, data.state, model_config, config.train, strategy=strategy, log=log,
                          presharded=presharded)
    log(f"model {config.model.model_type} (crosses {'on' if config.use_crosses else 'off'}): "
        f"{estimator.core.count_params():,} parameters; {json.dumps(layout_summary(estimator.layout))}")
    t_train = time.perf_counter()
    history = estimator.train(train_x, train_y, valid_x, valid_y, train_stream=data.stream,
                              on_epoch_end=None if on_epoch_end is None else lambda row: on_epoch_end(row, estimator))
    train_seconds = time.perf_counter() - t_train

    raw_valid = estimator.predict(valid_x)
    calibrator = fit_calibrator(config.calibration, valid_y, raw_valid)   # validation split only
    calibrator.save(model_dir / "calibration.json")
    valid_scores = calibrator.apply(raw_valid)
    threshold = metrics.f1_threshold(valid_y, valid_scores)  # chosen on validation, never on test
    raw_test = estimator.predict(test_x)
    test_scores = calibrator.apply(raw_test)
    result = metrics.evaluate(test_y, test_scores, threshold)
    result["valid_auc"] = metrics.auc(valid_y, valid_scores)
    oracle = data.dataset.oracle_for("test")
    result.update({
        "oracle_auc": metrics.auc(test_y, oracle) if oracle is not None else None,
        "n_train": trained_rows(data), "n_valid": int(len(valid_y)), "n_test": int(len(test_y)),
        "train_examples_per_sec": steady_state_throughput(history), "batch_size": config.train.batch_size,
        "train_seconds": train_seconds, "seed": config.train.seed,
        "epochs_trained": len(history), "best_epoch": int(np.argmax([h["val_auc"] for h in history]) + 1) if history else None,
        "model_type": config.model.model_type, "use_crosses": config.use_crosses, "dataset": data.info.name,
        "data_quality": data.quality, "data_report": data.dataset.report, "peak_rss_mb": peak_rss_mb(),
    })
    explainer = None
    if data.stream is not None:
        result["n_fit"] = int(len(train_y))   # the fitting files: the evidence's training baselines
    if with_evidence and config.evidence:
        t_evidence = time.perf_counter()
        plain, tables, explainer = evidence.collect(
            estimator, data, config, {"raw_test": raw_test, "test": test_scores}, calibrator, threshold, model_dir, log)
        result.update(plain)
        save_json(model_dir / "evidence.json", tables)
        pd.DataFrame({"label": test_y, "probability": test_scores, "probability_uncalibrated": raw_test}).to_parquet(
            model_dir / "test_scores.parquet", index=False)  # the report's curves and intervals
        result["evidence_seconds"] = time.perf_counter() - t_evidence
        log(f"credit-risk evidence (scorecard, reason codes, fairness, stability) in {result['evidence_seconds']:.0f} s")
    if config.export:
        path = export_saved_model(estimator.serving_model(), routed, data.state, model_dir / "export", threshold, calibrator,
                                   explainer)
        result["export_path"] = str(path)
        log(f"exported SavedModel to {path}")
    result["wall_seconds"] = time.perf_counter() - t_start
    result["peak_rss_mb"] = peak_rss_mb()
    save_json(model_dir / "metrics.json", result)
    log(format_table(result))
    if keep_scores:
        result["scores"] = {"valid": valid_scores, "test": test_scores}
    return result


def run_training(config: RunConfig, log=print, strategy=None) -> dict:
    """What `experiments/train.py` does: prepare the data, then train, evaluate and export one model.

    Under a multi-worker `strategy` every worker runs this same function in lockstep (the
    gradients are all-reduced); the chief (task 0) writes `config.model_dir`, every other
    worker its own `model_dir/worker<k>` (its checkpoints, for resuming) and skips the
    evidence and the export.
    """
    with_evidence = True
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_type and (resolver.task_type, resolver.task_id) not in (("chief", 0), ("worker", 0)):
        config = dataclasses.replace(config, model_dir=str(Path(config.model_dir) / f"worker{resolver.task_id}"), export=False)
        with_evidence = False
    saved_state = Path(config.model_dir) / "preprocessing.json"
    state = load_state(saved_state) if saved_state.exists() and (Path(config.model_dir) / "config.json").exists() else None
    shard = (0, 1)
    if resolver is not None and resolver.task_type:
        shard = (int(resolver.task_id or 0), int(strategy.num_replicas_in_sync))
    data = prepare_data(config, log, state=state, shard=shard)
    return train_and_evaluate(config, data, log, with_evidence=with_evidence, strategy=strategy,
                              presharded=data.dataset.report.get("train_files") is not None)


def load_estimator(model_dir: str | Path, log=print) -> Estimator:
    """Reopen a trained `model_dir` (spec, fitted preprocessing, best weights) for predict/export."""
    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        raise UserError(f"{model_dir} is not a model_dir (no config.json); train one with experiments.train first")
    saved = json.loads((model_dir / "config.json").read_text())["config"]
    model_config = ModelConfig(**{**saved["model"], "hidden_units": tuple(saved["model"]["hidden_units"])})
    train_config = TrainConfig(**saved["train"])
    spec = FeatureSpec.from_yaml(model_dir / "spec.yaml").for_model(
        model_config.model_type, saved["use_crosses"], saved.get("include_protected", True))
    estimator = Estimator(model_dir, spec, load_state(model_dir / "preprocessing.json"), model_config, train_config, log=log)
    estimator.restore_best()
    return estimator
