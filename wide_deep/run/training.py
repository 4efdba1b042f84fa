"""Train one model on prepared data, evaluate it on test, collect the evidence and export it.

Each split is encoded once (`Encoder`) and the same tensors serve training, evaluation, the
warm start and the evidence.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from feature_columns.errors import UserError
from feature_columns.fitting import GBDT, FittedState
from wide_deep.core import gbdt, warm_start
from wide_deep.core.calibration import fit_calibrator
from wide_deep.core.ensemble import merge_cores
from wide_deep.core.model import log_odds
from wide_deep.core.tensors import Encoder
from wide_deep.core.trainer import Estimator, layout_summary, steady_state_throughput
from wide_deep.evidence import metrics
from wide_deep.evidence.scorecard import Scaling
from wide_deep.record.config import RunConfig
from wide_deep.record.model_dir import ModelDir
from wide_deep.record.provenance import code_version, utc_now
from wide_deep.record.resources import peak_rss_mb
from wide_deep.run.pipeline import PreparedData

TABLE_KEYS = (
    "auc",
    "gini",
    "ks",
    "log_loss",
    "brier",
    "threshold",
    *metrics.THRESHOLD_METRICS,
    "accuracy",
    "f1_at_0_5",
    "f1_weighted_at_0_5",
)


def format_table(result: dict) -> str:
    lines = [f"{'metric':<22}{'test':>10}"]
    lines += [f"{k:<22}{result[k]:>10.4f}" for k in TABLE_KEYS if k in result]
    if result.get("oracle_auc") is not None:
        lines.append(
            f"{'oracle_auc':<22}{result['oracle_auc']:>10.4f}   (true probabilities; the best any model can reach)"
        )
        lines.append(f"{'gap_to_oracle':<22}{result['oracle_auc'] - result['auc']:>10.4f}")
    lines.append(f"{'n_train/valid/test':<22}{result['n_train']:>10,} / {result['n_valid']:,} / {result['n_test']:,}")
    lines.append(
        f"{'train examples/s':<22}{result['train_examples_per_sec']:>10,.0f}   (steady-state median, batch "
        f"{result['batch_size']})"
    )
    return "\n".join(lines)


def _columns_only(state: FittedState) -> FittedState:
    """The state of the spec's columns (without a GBDT's trees, which belong to one model)."""
    return {name: entry for name, entry in state.items() if name != GBDT}


def ignored_columns(dataset_spec, routed) -> tuple[str, ...]:
    """Columns of the dataset's spec the routed model does not read (protected ones, the label and its rejected
    flag), in spec order."""
    used = set(routed.raw_feature_names)
    unused = [c.name for c in dataset_spec.input_columns if c.name not in used]
    label = dataset_spec.label
    return (*unused, label.column, *([label.rejected_column] if label.rejected_column else []))


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
    from wide_deep.evidence.collect import collect
    from wide_deep.serving.export import export_saved_model

    t_start = time.perf_counter()
    spec, run = data.spec, ModelDir(config.model_dir)
    run.claim()
    saved = run.load_state() if run.check_resumable(config, spec) and run.has_state() else None
    if saved is not None and _columns_only(saved) != _columns_only(data.state):
        raise UserError(
            f"--model_dir={run} was trained with preprocessing fitted on different data; use a new --model_dir"
        )
    routed = config.route(spec)
    state = _columns_only(data.state)
    if routed.gbdt:  # the trees are part of the fitted preprocessing: fitted once, kept for a resume
        if saved is not None and GBDT in saved:
            state = saved
        else:
            fit_on = data.splits["train"] if "train" in data.splits else data.reference
            state = gbdt.fit_trees(routed, state, fit_on, data.splits["valid"], config.train.seed, log)
    run.save_settings(config, spec, state)
    encoder = Encoder(routed, state, config.train.eval_batch_size)
    valid, test = (encoder.encode_split(data.splits[k].arrays, data.splits[k].labels) for k in ("valid", "test"))
    train = None
    if not data.training.is_streamed:
        train = encoder.encode_split(data.splits["train"].arrays, data.splits["train"].labels)
    reference = train if train is not None and data.reference is data.splits.get("train") else None
    model_config = dataclasses.replace(config.model, initial_bias=log_odds(float(data.reference.labels.mean())))
    start = None
    if config.model.warm_start == "logistic" and encoder.layout.has_wide:
        if reference is None:
            reference = encoder.encode_split(data.reference.arrays, data.reference.labels)
        start = warm_start.fit_logistic(reference, valid, encoder.layout, seed=config.train.seed)
        if not model_config.l2_wide:  # the penalty C chose on validation keeps regularising the wide branch
            model_config = dataclasses.replace(model_config, l2_wide=start.l2)
        log(f"logistic regression for the wide branch: C={start.c:g} (validation AUC {start.valid_auc:.4f})")
    members = config.model.ensemble_seeds
    trained = []
    t_train = time.perf_counter()
    for member in range(members):
        files, train_config = run.training_files(), config.train
        if members > 1:
            files = run.member(member).training_files()
            train_config = dataclasses.replace(config.train, seed=(config.train.seed + member) % 2**32)
            log(f"ensemble member {member + 1}/{members} (seed {train_config.seed})")
        estimator = Estimator(
            files,
            routed,
            state,
            dataclasses.replace(model_config, ensemble_seeds=1),
            train_config,
            strategy=strategy,
            log=log,
            encoder=encoder,
        )
        if member == 0:
            log(
                f"model {config.model.model_type} (crosses {'on' if config.use_crosses else 'off'}): "
                f"{estimator.core.count_params():,} parameters"
                + (f" per member, {members} members" if members > 1 else "")
            )
            for line in layout_summary(estimator.layout, config.model):
                log(line)
        history = estimator.train(
            data.training,
            train,
            valid,
            on_epoch_end=None if on_epoch_end is None else lambda row, e=estimator: on_epoch_end(row, e),
            warm_start=start,
        )
        if routed.gbdt and warm_start.blend_trees(estimator, valid, state[GBDT], log):
            estimator.best_manager.save(checkpoint_number=estimator.best_epoch(history) or 0)  # the blended model
        trained.append((estimator, history))
    if members > 1:
        estimator = Estimator(
            run.training_files(), routed, state, model_config, config.train, strategy=strategy, log=log, encoder=encoder
        )
        merge_cores(estimator.core, [member.core for member, _ in trained], encoder.layout)
        estimator.best_manager.save(checkpoint_number=0)  # the merged model: what load_estimator reopens
        log(f"ensemble: the {members} members merged into one model (the mean of their logits)")
    train_seconds = time.perf_counter() - t_train

    raw_valid = estimator.predict_encoded(valid.features)
    calibrator = fit_calibrator(config.calibration, valid.labels, raw_valid)  # validation split only
    run.save_calibrator(calibrator)
    valid_scores = calibrator.apply(raw_valid)
    scaling = Scaling(*config.scorecard)
    threshold = metrics.decision_threshold(config.cutoff, valid.labels, valid_scores, scaling)  # never on test
    raw_test = estimator.predict_encoded(test.features)
    test_scores = calibrator.apply(raw_test)
    result = metrics.evaluate(test.labels, test_scores, threshold)
    result["valid_auc"] = metrics.auc(valid.labels, valid_scores)
    oracle = data.splits["test"].oracle
    result.update(
        {
            "oracle_auc": metrics.auc(test.labels, oracle) if oracle is not None else None,
            "n_train": data.training.rows_per_epoch,
            "n_valid": len(valid),
            "n_test": len(test),
            "train_examples_per_sec": float(np.median([steady_state_throughput(h) for _, h in trained])),
            "batch_size": config.train.batch_size,
            "train_seconds": train_seconds,
            "seed": config.train.seed,
            "epochs_trained": sum(len(h) for _, h in trained),
            "best_epoch": estimator.best_epoch(history) if members == 1 else None,
            "model_type": config.model.model_type,
            "use_crosses": config.use_crosses,
            "dataset": data.info.name,
            "data_quality": data.quality,
            "data_report": data.report,
            "peak_rss_mb": peak_rss_mb(),
            "provenance": {"trained_at": utc_now(), "code_version": code_version()},
        }
    )
    if members > 1:
        result["ensemble_members"] = [
            {"seed": member.config.seed, "epochs_trained": len(h), "best_epoch": member.best_epoch(h)}
            for member, h in trained
        ]
    result["model_fingerprint"] = fingerprint = estimator.fingerprint()
    explainer = None
    if data.training.is_streamed:
        result["n_fit"] = len(data.reference)  # the fitting files: the evidence's training baselines
    if with_evidence and config.evidence:
        t_evidence = time.perf_counter()
        log("credit-risk evidence:")
        if reference is None:
            reference = encoder.encode_split(data.reference.arrays, data.reference.labels)
        evidence = collect(
            estimator,
            data,
            config,
            reference,
            test,
            {"raw_test": raw_test, "test": test_scores},
            calibrator,
            threshold,
            log,
        )
        explainer = evidence.explainer
        result.update(evidence.metrics)
        evidence.tables["model_fingerprint"] = fingerprint  # the baseline belongs to this model (and its export)
        run.save_evidence(evidence.tables, evidence.test_scores, evidence.scorecard, evidence.scorecard_markdown)
        result["evidence_seconds"] = time.perf_counter() - t_evidence
        log(f"credit-risk evidence in {result['evidence_seconds']:.0f} s")
    if config.export:
        t_export = time.perf_counter()
        log(f"exporting the SavedModel to {run.export_root}")
        path = export_saved_model(
            estimator.serving_model(),
            routed,
            state,
            run.export_root,
            threshold,
            calibrator,
            explainer,
            fingerprint=fingerprint,
            scaling=scaling,
            ignored_columns=ignored_columns(data.spec, routed),
        )
        result["export_path"] = str(path)
        result["export_seconds"] = time.perf_counter() - t_export
        log(f"exported SavedModel to {path} in {result['export_seconds']:.0f} s")
        pruned = run.prune_exports(config.keep_exports)
        if pruned:
            log(f"removed {len(pruned)} older export version(s), keeping the newest {config.keep_exports}")
    result["wall_seconds"] = time.perf_counter() - t_start
    result["peak_rss_mb"] = peak_rss_mb()
    run.save_metrics(result)
    log(format_table(result))
    if keep_scores:
        result["scores"] = {"valid": valid_scores, "test": test_scores}
    return result
