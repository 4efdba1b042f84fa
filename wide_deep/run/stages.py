"""The stages of one training run, in order, over one record (`TrainingRun`) that each stage reads and extends.

    open_run          claim the model_dir, refuse a different run in it, route the spec for the model
    fit_extras        what the model is built on besides the columns' state: whether sequences get a tower,
                      proposed pairs, a GBDT's trees (fitted once, kept for a resume); then the settings are saved
    encode_splits     every split through the fitted preprocessing, once
    warm_start        the initial bias, and the wide branch as a logistic regression tuned on validation
    train_members     the network (or an ensemble's members), each with early stopping on validation
    combine           an ensemble's members merged into one network
    keep_network      the trained network kept only when it beats its starting scorecard by the rule's margin
    keep_readable     the network's opaque part scaled down if the readable share on validation is below its floor
    blend_trees       a GBDT's trees blended in on validation, kept only when they pay and keep the floor
    refit_scorecard   the chosen model's wide columns refitted on the training and validation rows together
    calibrate         the calibrator, the decision threshold and the score bands, all on the validation split
    evaluate          the test metrics and the run's facts
    collect_evidence  the credit-risk evidence (`wide_deep.evidence.collect`)
    export            the SavedModel for serving, older versions pruned
    finish            metrics.json and the table

A new model option adds a stage or extends one; `wide_deep.run.training.train_and_evaluate` runs them.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import expit

from feature_columns.errors import UserError
from feature_columns.fitting import GBDT, PROPOSED_CROSSES, SEQUENCE_CHOICE, STRUCTURE, FittedState
from feature_columns.kinds import SequenceChoice
from feature_columns.spec import ModelSpec
from wide_deep.core import blend, gbdt, pairs, sequence_probe
from wide_deep.core import warm_start as wide_start
from wide_deep.core.calibration import Calibrator, fit_calibrator
from wide_deep.core.config import ModelConfig
from wide_deep.core.ensemble import merge_cores
from wide_deep.core.model import log_odds
from wide_deep.core.tensors import EncodedSplit, Encoder
from wide_deep.core.trainer import Estimator, layout_summary, probabilities, steady_state_throughput
from wide_deep.data.training_input import IN_MEMORY
from wide_deep.evidence import metrics, strategy
from wide_deep.evidence.scorecard import (
    Scaling,
    readable_parts,
    readable_share,
    scale_opaque,
    share_of,
    wide_weights,
)
from wide_deep.evidence.stats import delong_test
from wide_deep.ranking import auc
from wide_deep.record.config import RunConfig
from wide_deep.record.model_dir import ModelDir
from wide_deep.record.provenance import code_version, utc_now
from wide_deep.record.resources import peak_rss_mb
from wide_deep.run.prepared import PreparedData


@dataclasses.dataclass
class TrainingRun:
    """What a run holds as its stages go: the inputs (config, data, how to log), then what each stage adds."""

    config: RunConfig
    data: PreparedData
    log: Callable[[str], None] = print
    strategy: Any = None
    on_epoch_end: Callable | None = None  # (history row, estimator): adds entries to the row, never steers
    with_evidence: bool = True
    started: float = dataclasses.field(default_factory=time.perf_counter)
    model_dir: ModelDir | None = None
    saved_state: FittedState | None = None  # the state of the run being resumed, if any
    routed: ModelSpec | None = None  # the dataset's spec routed for this model
    state: FittedState | None = None  # the columns' state (and a GBDT's trees)
    encoder: Encoder | None = None
    train: EncodedSplit | None = None  # None when the training rows are streamed
    valid: EncodedSplit | None = None
    test: EncodedSplit | None = None
    reference: EncodedSplit | None = None  # the training sample the warm start and the evidence read
    model_config: ModelConfig | None = None  # the config's, with what the data and the warm start decide
    start: wide_start.WideStart | None = None
    network_kept: bool | None = None  # whether the trained network replaced its starting scorecard (None: moot)
    refit: wide_start.Refit | None = None  # the wide columns refitted on training and validation rows, if they were
    members: list[tuple[Estimator, list[dict]]] = dataclasses.field(default_factory=list)
    estimator: Estimator | None = None  # the model the run stands for
    train_seconds: float = 0.0
    stage_seconds: dict[str, float] = dataclasses.field(default_factory=dict)  # each finished stage's wall time
    calibrator: Calibrator | None = None
    scaling: Scaling | None = None
    threshold: float | None = None
    score_bands: tuple[float, ...] = ()  # the strategy table's inner band edges in points, fitted on validation
    # raw_valid (before a refit: out of sample), valid (calibrated), raw_test, test
    scores: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    # the challengers a validator compares the model with, fitted on the way (the warm start's logistic regression,
    # the tuned LightGBM): their test probabilities by name
    challengers: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    result: dict = dataclasses.field(default_factory=dict)
    explainer: Any = None  # the evidence's reason-code explainer, which the export's serving_explain uses

    def encoded_reference(self) -> EncodedSplit:
        """The training reference, encoded on first use (the train split itself when its rows are held)."""
        if self.reference is None:
            self.reference = self.encoder.encode_split(self.data.reference.arrays, self.data.reference.labels)
        return self.reference


def _best_epoch(run: TrainingRun, histories: list[list[dict]]) -> int | None:
    """The epoch whose weights the model holds (0: the starting scorecard); None for a merged ensemble."""
    if run.network_kept is False:
        return 0
    return run.estimator.best_epoch(histories[0]) if len(histories) == 1 else None


def _columns_only(state: FittedState) -> FittedState:
    """The state of the spec's columns (without what a run learned of its model's structure: a GBDT's trees, the
    crosses it proposed and their vocabularies)."""
    proposed = state.get(PROPOSED_CROSSES)
    learned = set(STRUCTURE) | {c.name for c in proposed.crosses} if proposed is not None else set(STRUCTURE)
    return {name: entry for name, entry in state.items() if name not in learned}


def open_run(run: TrainingRun) -> None:
    run.model_dir = ModelDir(run.config.model_dir)
    run.model_dir.claim()
    spec = run.data.spec
    if run.model_dir.check_resumable(run.config, spec) and run.model_dir.has_state():
        run.saved_state = run.model_dir.load_state()
        if _columns_only(run.saved_state) != _columns_only(run.data.state):
            raise UserError(
                f"--model_dir={run.model_dir} was trained with preprocessing fitted on different data; use a new "
                f"--model_dir"
            )
    run.routed = run.config.route(spec)
    run.state = _columns_only(run.data.state)


MIN_SEQUENCE_GAIN = 0.001  # validation AUC the probe must gain from the steps, at p < SEQUENCE_P_VALUE
SEQUENCE_P_VALUE = 0.05


def choose_sequences(run: TrainingRun, fit_on) -> None:
    """`--sequences=auto` with declared sequences: a tower only where it pays. The probe (`core.sequence_probe`)
    scores validation without and with the steps; the tower is built when they add at least MIN_SEQUENCE_GAIN AUC
    and the paired DeLong test says the gain is not noise (p < SEQUENCE_P_VALUE). The choice is kept in the state
    (a resume and a reopened model route the same way) and said in one line."""
    saved = (run.saved_state or {}).get(SEQUENCE_CHOICE)
    if saved is None:
        scores = sequence_probe.probe(run.routed, run.state, fit_on, run.data.splits["valid"], run.config.train.seed)
        test = delong_test(run.data.splits["valid"].labels, scores.with_steps, scores.without)
        pays = test["difference"] >= MIN_SEQUENCE_GAIN and test["p_value"] < SEQUENCE_P_VALUE
        saved = SequenceChoice(pays, test["auc_b"], test["auc_a"], test["p_value"])
        seconds = f", {scores.seconds:.0f} s"
    else:
        seconds = ", kept from the run resumed"
    names = ", ".join(c.name for c in run.routed.sequences)
    verdict = "a tower over the steps" if saved.use_sequences else "the aggregates only (no tower)"
    run.log(
        f"sequences ({names}): {verdict}: a probe's validation AUC {saved.auc_without:.4f} without the steps, "
        f"{saved.auc_with:.4f} with them ({saved.gain:+.4f}, p={saved.p_value:.3f}; a tower needs "
        f"+{MIN_SEQUENCE_GAIN:g} at p<{SEQUENCE_P_VALUE:g}{seconds}; --sequences=both or aggregates decides)"
    )
    run.state = {**run.state, SEQUENCE_CHOICE: saved}
    run.routed = run.config.route(run.data.spec, run.state)


def fit_extras(run: TrainingRun) -> None:
    """What the model is built on besides the columns' state, fitted once and kept for a resume: whether declared
    sequences get a tower (`--sequences=auto`), the crosses of the pairs the additive scorecard misses (`--pairs`),
    and the GBDT wide branch's trees."""
    splits, saved = run.data.splits, run.saved_state or {}
    fit_on = splits["train"] if "train" in splits else run.data.reference
    if run.config.model.sequences == "auto" and run.routed.sequences:
        choose_sequences(run, fit_on)
    ranked = _pair_ranking(run, fit_on)
    if run.config.model.pairs and run.routed.has_wide_columns:
        if PROPOSED_CROSSES in saved:
            crosses, proposed = saved[PROPOSED_CROSSES].crosses, saved[PROPOSED_CROSSES]
        else:
            crosses, proposed = pairs.propose_crosses(ranked(), run.config.model.pairs, run.log)
        run.routed = run.routed.with_crosses(crosses)
        run.state = {**run.state, PROPOSED_CROSSES: proposed}
        for cross in crosses:
            run.state[cross.name] = saved.get(cross.name) or cross.fit(fit_on.arrays, run.state, run.routed)
    if run.config.model.model_type == "deep" and (run.config.model.wide_gbdt or run.config.model.warm_start != "none"):
        run.log("--model_type=deep has no wide branch: no GBDT wide branch, no logistic warm start (both act on it)")
    if run.config.model.wide_gbdt and run.config.model.model_type != "deep":
        if GBDT in saved:
            run.state = {**run.state, GBDT: saved[GBDT]}
        else:
            term_pairs = None
            if run.config.model.gbdt_terms == "pairs":  # a GA2M: the pairs FAST ranks first, 3 per feature at most
                limit = gbdt.TREE_PAIRS_PER_FEATURE * len(run.routed.input_columns)
                term_pairs = [tuple(run.routed.column(k).source_columns[0] for k in p.keys) for p in ranked()][:limit]
            run.state = gbdt.fit_trees(
                run.routed, run.state, fit_on, run.data.splits["valid"], run.config.train.seed, run.log, term_pairs
            )
    run.model_dir.save_settings(run.config, run.data.spec, run.state)


def _pair_ranking(run: TrainingRun, fit_on) -> Callable[[], list]:
    """Every pair of the routed spec's single-feature characteristics ranked by FAST (`wide_deep.core.pairs`),
    computed on the first call only and on the spec as it is now (before any proposed crosses join it): the
    proposed crosses and a GA2M's pair terms are chosen from the same ranking."""
    routed, state = run.routed, run.state

    @functools.cache
    def ranking() -> list:
        if not routed.has_wide_columns:
            return []
        return pairs.ranked_pairs(routed, state, fit_on, run.data.splits["valid"], run.config.train.seed)

    return ranking


def encode_splits(run: TrainingRun) -> None:
    run.encoder = Encoder(run.routed, run.state, run.config.train.eval_batch_size)
    splits = run.data.splits
    run.valid, run.test = (run.encoder.encode_split(splits[k].arrays, splits[k].labels) for k in ("valid", "test"))
    if not run.data.training.is_streamed:
        run.train = run.encoder.encode_split(splits["train"].arrays, splits["train"].labels)
        if run.data.reference is splits.get("train"):
            run.reference = run.train


def warm_start(run: TrainingRun) -> None:
    """The fusion bias at the training log-odds; with `--warm_start=logistic`, the wide branch's regression (C on
    validation), whose penalty keeps regularising the wide branch unless `--l2_wide` says otherwise."""
    config = run.config
    run.model_config = dataclasses.replace(config.model, initial_bias=log_odds(float(run.data.reference.labels.mean())))
    if config.model.warm_start != "logistic" or not run.encoder.layout.has_wide:
        return
    run.start = wide_start.fit_logistic(run.encoded_reference(), run.valid, run.encoder.layout, seed=config.train.seed)
    if not run.model_config.l2_wide:
        run.model_config = dataclasses.replace(run.model_config, l2_wide=run.start.l2)
    run.log(f"logistic regression for the wide branch: C={run.start.c:g} (validation AUC {run.start.valid_auc:.4f})")
    run.challengers["logistic"] = expit(wide_start.logits(run.start, run.test.features, run.encoder.layout))


def train_members(run: TrainingRun) -> None:
    """The model, or each member of an ensemble (`--ensemble_seeds`, seeds seed..seed+K-1, in `members/<k>/`)."""
    config, members = run.config, run.config.model.ensemble_seeds
    started = time.perf_counter()
    for member in range(members):
        files, train_config = run.model_dir.training_files(), config.train
        if members > 1:
            files = run.model_dir.member(member).training_files()
            train_config = dataclasses.replace(config.train, seed=(config.train.seed + member) % 2**32)
            run.log(f"ensemble member {member + 1}/{members} (seed {train_config.seed})")
        estimator = Estimator(
            files,
            run.routed,
            run.state,
            dataclasses.replace(run.model_config, ensemble_seeds=1),
            train_config,
            strategy=run.strategy,
            log=run.log,
            encoder=run.encoder,
        )
        if member == 0:
            _describe_model(run, estimator)
        history = estimator.train(
            run.data.training, run.train, run.valid, on_epoch_end=_for_estimator(run, estimator), warm_start=run.start
        )
        run.members.append((estimator, history))
    run.estimator = run.members[0][0]
    run.train_seconds = time.perf_counter() - started


def _for_estimator(run: TrainingRun, estimator: Estimator):
    """The run's `on_epoch_end(row, estimator)` as the trainer calls it, `on_epoch_end(row)`."""
    if run.on_epoch_end is None:
        return None
    return lambda row: run.on_epoch_end(row, estimator)


def _describe_model(run: TrainingRun, estimator: Estimator) -> None:
    members = run.config.model.ensemble_seeds
    run.log(
        f"model {run.config.model.model_type} (crosses {'on' if run.config.use_crosses else 'off'}): "
        f"{estimator.core.count_params():,} parameters" + (f" per member, {members} members" if members > 1 else "")
    )
    for line in layout_summary(estimator.layout, run.config.model):
        run.log(line)


def combine(run: TrainingRun) -> None:
    """An ensemble's K members merged into one model."""
    started = time.perf_counter()
    if len(run.members) > 1:
        config = run.config
        run.estimator = Estimator(
            run.model_dir.training_files(),
            run.routed,
            run.state,
            run.model_config,
            config.train,
            strategy=run.strategy,
            log=run.log,
            encoder=run.encoder,
        )
        merge_cores(run.estimator.core, [member.core for member, _ in run.members], run.encoder.layout)
        run.estimator.keep_as_best(0)  # the merged model: what load_estimator reopens
        run.log(f"ensemble: the {len(run.members)} members merged into one model (the mean of their logits)")
    run.train_seconds += time.perf_counter() - started


def keep_network(run: TrainingRun) -> None:
    """Keep the trained network only when it is clearly better than the scorecard it started from (epoch 0, the
    warm start's logistic regression): its validation AUC gain must reach `min_network_gain_se` standard errors
    of that gain (DeLong, paired on the validation rows); otherwise the model goes back to that scorecard. The
    best of many epochs on a validation split is partly its noise, the more so the smaller the split, so the
    simpler model stands unless the richer one beats it by more than that noise (the one-standard-error rule).
    One line of the log says what was kept and why."""
    minimum = run.config.model.min_network_gain_se
    if run.start is None or minimum <= 0 or run.config.model.fusion != "sum" or not run.estimator.layout.has_deep:
        return
    scorecard = wide_start.logits(run.start, run.valid.features, run.encoder.layout)
    network = run.estimator.logits_encoded(run.valid.features).astype("float64")
    test = delong_test(run.valid.labels, network, scorecard)
    gain, z = test["difference"], test["z"]
    standing = (
        f"validation AUC {test['auc_a']:.4f} against {test['auc_b']:.4f} for the scorecard it started from, a gain "
        f"of {gain:+.4f} ({z:.2f} standard errors)"
    )
    run.network_kept = bool(z >= minimum)
    if run.network_kept:
        run.log(f"trained network kept: {standing}")
        return
    wide_start.restore(run.estimator.core, run.start)
    run.estimator.keep_as_best(0)
    run.log(
        f"trained network left out: {standing}, less than --min_network_gain_se={minimum:g}; the model is the "
        "starting scorecard"
    )


def blend_trees(run: TrainingRun) -> None:
    """Blend the GBDT's trees into the trained network on validation (`wide_deep.core.blend`) and keep them only
    when the blend adds at least `min_tree_gain` to the network's validation AUC (through the fusion gate, if
    any) and keeps the readable share at `min_readable_share`; otherwise they leave the model. The decision is
    one line of the log, and recorded with the trees."""
    if GBDT not in run.state:
        return
    started = time.perf_counter()
    trees, minimum = run.state[GBDT], run.config.model.min_tree_gain
    tree_spec = dataclasses.replace(run.routed, gbdt=True)
    encoder = Encoder(tree_spec, run.state, run.config.train.eval_batch_size)
    valid = encoder.encode_split(run.data.splits["valid"].arrays, run.valid.labels)
    model = run.estimator.logits_encoded(run.valid.features)
    fitted = blend.fit_blend(model, blend.tree_margin(valid.features, encoder.layout, trees), valid.labels)
    test = encoder.encode_split(run.data.splits["test"].arrays, run.test.labels)
    run.challengers["lightgbm"] = expit(np.asarray(blend.tree_margin(test.features, encoder.layout, trees), "float64"))
    kept = fitted.why_not_kept(minimum) is None
    if kept:
        candidate = blend.with_trees(run.estimator, tree_spec, run.state, fitted, encoder)
        if run.config.model.fusion != "sum":  # the trees' term passes through the wide gate: checked as it comes out
            through_gate = auc(valid.labels, candidate.logits_encoded(valid.features))
            fitted = dataclasses.replace(fitted, aucs=(*fitted.aucs[:2], through_gate))
            kept = fitted.why_not_kept(minimum) is None
    floor, share = run.config.model.min_readable_share, None
    if kept and floor > 0:
        share = share_of(*readable_parts(candidate, valid.features, candidate.logits_encoded(valid.features)))
    if share is not None and share < floor:
        kept = False
        run.log(
            f"GBDT {trees.noun} left out: with them the readable share on validation would be {share:.3f}, below "
            f"--min_readable_share={floor:g} ({fitted.describe()})"
        )
    elif not kept:
        run.log(f"GBDT {trees.noun} left out: {fitted.why_not_kept(minimum)} ({fitted.describe()})")
        run.state = {**run.state, GBDT: dataclasses.replace(trees, blend=None)}
    else:
        run.log(
            f"GBDT {trees.noun} kept: {fitted.describe()}; their blend adds {fitted.gain:+.4f} to the validation AUC"
        )
        run.state = {
            **run.state,
            GBDT: dataclasses.replace(trees, blend=(fitted.model, fitted.trees, fitted.intercept)),
        }
        run.estimator, run.encoder, run.routed = candidate, encoder, tree_spec
        run.valid = valid
        run.test = test
        run.train, run.reference = None, None  # the evidence's reference is encoded again, with the trees
    run.model_dir.save_settings(run.config, run.data.spec, run.state)
    run.train_seconds += time.perf_counter() - started


def keep_readable(run: TrainingRun) -> None:
    """Hold the readable share on validation at `--min_readable_share` at least: when the opaque part (the deep
    term, trees over more than two features) carries more of the logit, it is scaled down, by the largest factor
    that keeps the floor, and the bias takes its lost mean. One line of the log says what was done and what it
    cost in validation AUC."""
    floor = run.config.model.min_readable_share
    if floor <= 0:
        return
    if not run.estimator.layout.has_wide:  # a deep-only model has nothing readable to hold a share
        run.log(f"no readable characteristics (the model has no wide branch): --min_readable_share={floor:g} is moot")
        return
    logit = run.estimator.logits_encoded(run.valid.features).astype("float64")
    readable, rest = readable_parts(run.estimator, run.valid.features, logit)
    share = share_of(readable, rest)
    if share >= floor:
        run.log(f"readable share on validation {share:.3f} (floor --min_readable_share={floor:g})")
        return
    if run.config.model.fusion != "sum":
        run.log(f"readable share on validation {share:.3f}, below {floor:g}: a fused model is left as it is")
        return
    scale = next(s for s in np.linspace(1.0, 0.0, 201) if share_of(readable, s * rest) >= floor)
    shift = (1.0 - scale) * float(rest.mean())
    before = auc(run.valid.labels, logit)
    scale_opaque(run.estimator, float(scale), shift)
    run.estimator.keep_as_best(0)  # the model the run stands for
    after = auc(run.valid.labels, run.estimator.logits_encoded(run.valid.features))
    run.log(
        f"readable share on validation {share:.3f}, below --min_readable_share={floor:g}: the opaque part (deep "
        f"term, trees over more than two features) scaled by {scale:.3f} (validation AUC {before:.4f} → {after:.4f})"
    )


def refit_scorecard(run: TrainingRun) -> None:
    """With `--refit_scorecard`, once validation has chosen everything (C, the epoch, the network, the trees): the
    wide columns fitted again on the training and validation rows together, at the chosen C, the rest of the model
    fixed (`wide_deep.core.warm_start.refit`), and saved for `load_estimator`. The test split stays unseen; the
    calibrator, the cut-off and the bands are still read on validation scores of rows the model was not fitted on:
    the validated model's, kept before the refit (as scikit-learn's `CalibratedClassifierCV(ensemble=False)` reads
    its calibrator on out-of-fold scores and then refits). One line of the log says what was done."""
    model = run.config.model
    if not model.refit_scorecard or run.start is None:
        return
    if model.fusion != "sum" or run.data.training.kind != IN_MEMORY:
        why = "a fused model" if model.fusion != "sum" else "the training rows are not all held in this process"
        run.log(f"scorecard not refitted on the validation rows: {why}")
        return
    started = time.perf_counter()
    splits = [run.encoded_reference(), run.valid]  # the train split itself, as the training input is in memory
    estimator = run.estimator
    split_logits = [estimator.logits_encoded(split.features) for split in splits]
    before = auc(run.valid.labels, split_logits[1])
    run.scores["raw_valid"] = probabilities(split_logits[1])  # out of sample, for `calibrate`
    run.refit = wide_start.refit(splits, split_logits, wide_weights(estimator), run.encoder.layout, run.start.c)
    wide_start.apply_refit(estimator.core, run.refit)
    run.model_dir.save_refit(run.refit)
    after = auc(run.valid.labels, estimator.logits_encoded(run.valid.features))
    run.log(
        f"scorecard refitted on the training and validation rows together ({run.refit.rows:,} rows, C={run.refit.c:g}"
        f"), the rest of the model as validation chose it; validation AUC {before:.4f} → {after:.4f} (now partly "
        "in-sample; the calibrator, the cut-off and the bands are read on the scores before the refit)"
    )
    run.train_seconds += time.perf_counter() - started


def calibrate(run: TrainingRun) -> None:
    """The calibrator, the decision threshold and the strategy's score bands, all fitted on the validation split
    only (never on test), on scores of a model not fitted on it (`refit_scorecard` keeps the validated model's)."""
    config = run.config
    raw_valid = run.scores.get("raw_valid")
    if raw_valid is None:
        raw_valid = run.estimator.predict_encoded(run.valid.features)
    run.calibrator = fit_calibrator(config.calibration, run.valid.labels, raw_valid)
    run.model_dir.save_calibrator(run.calibrator)
    run.scores["raw_valid"], run.scores["valid"] = raw_valid, run.calibrator.apply(raw_valid)
    run.scaling = Scaling(*config.scorecard)
    run.threshold = metrics.decision_threshold(config.cutoff, run.valid.labels, run.scores["valid"], run.scaling)
    run.score_bands = strategy.band_edges(run.scaling.points(run.scores["valid"]), run.scaling)


def evaluate(run: TrainingRun) -> None:
    config, data, test = run.config, run.data, run.test
    raw_test = run.estimator.predict_encoded(test.features)
    run.scores["raw_test"], run.scores["test"] = raw_test, run.calibrator.apply(raw_test)
    result = metrics.evaluate(test.labels, run.scores["test"], run.threshold)
    result["valid_auc"] = metrics.auc(run.valid.labels, run.scores["valid"])
    oracle = data.splits["test"].oracle
    # a run that leaves the protected columns out is also measured against the best it could do without them
    blind = None if config.include_protected else data.splits["test"].oracle_permitted
    histories = [history for _, history in run.members]
    result.update(
        {
            "oracle_auc": metrics.auc(test.labels, oracle) if oracle is not None else None,
            "oracle_auc_permitted": metrics.auc(test.labels, blind) if blind is not None else None,
            "n_train": data.training.rows_per_epoch,
            "n_valid": len(run.valid),
            "n_test": len(test),
            "train_examples_per_sec": float(np.median([steady_state_throughput(h) for h in histories])),
            "batch_size": config.train.batch_size,
            "train_seconds": run.train_seconds,
            "seed": config.train.seed,
            "epochs_trained": sum(len(h) for h in histories),
            "best_epoch": _best_epoch(run, histories),
            "network_kept": run.network_kept,
            "refit_rows": run.refit.rows if run.refit is not None else None,
            "model_type": config.model.model_type,
            "use_crosses": config.use_crosses,
            "dataset": data.info.name,
            "data_quality": data.quality,
            "data_report": data.report,
            "peak_rss_mb": peak_rss_mb(),
            "provenance": {"trained_at": utc_now(), "code_version": code_version()},
        }
    )
    if len(run.members) > 1:
        result["ensemble_members"] = [
            {"seed": member.config.seed, "epochs_trained": len(h), "best_epoch": member.best_epoch(h)}
            for member, h in run.members
        ]
    logits = run.estimator.logits_encoded(test.features)
    result.update(readable_share(run.estimator, test.features, logits))  # how much of the score a scorecard holds
    result["model_fingerprint"] = run.estimator.fingerprint()
    policy = strategy.cutoff_policy(config.cutoff, run.threshold, run.scaling, test.labels, run.scores["test"])
    result["cutoff"] = policy
    result.update({f"cutoff_{k}": policy[k] for k in ("points", "approval_rate", "approved_bad_rate")})
    if data.training.is_streamed:
        result["n_fit"] = len(data.reference)  # the fitting files: the evidence's training baselines
    run.result = result


def collect_evidence(run: TrainingRun) -> None:
    if not (run.with_evidence and run.config.evidence):
        return
    from wide_deep.evidence.collect import EvidenceInputs, collect

    started = time.perf_counter()
    run.log("credit-risk evidence:")
    inputs = EvidenceInputs(
        run.estimator,
        run.data,
        run.config,
        run.encoded_reference(),
        run.test,
        run.scores["raw_test"],
        run.scores["test"],
        run.calibrator,
        run.threshold,
        run.score_bands,
        run.challengers,
    )
    evidence = collect(inputs, run.log)
    run.explainer = evidence.explainer
    run.result.update(evidence.metrics)
    evidence.tables["model_fingerprint"] = run.result["model_fingerprint"]  # the baseline belongs to this model
    run.model_dir.save_evidence(evidence.tables, evidence.test_scores, evidence.scorecard, evidence.scorecard_markdown)
    run.result["evidence_seconds"] = time.perf_counter() - started
    run.log(f"credit-risk evidence in {run.result['evidence_seconds']:.0f} s")


def ignored_columns(dataset_spec, routed) -> tuple[str, ...]:
    """Columns of the dataset's spec the routed model does not read (protected ones, the label and its rejected
    flag), in spec order."""
    used = set(routed.raw_feature_names)
    unused = [c.name for c in dataset_spec.input_columns if c.name not in used]
    label = dataset_spec.label
    return (*unused, label.column, *([label.rejected_column] if label.rejected_column else []))


def export(run: TrainingRun) -> None:
    if not run.config.export:
        return
    from wide_deep.serving.export import ExportedModel, export_saved_model

    started = time.perf_counter()
    run.log(f"exporting the SavedModel to {run.model_dir.export_root}")
    model = ExportedModel(
        model=run.estimator.serving_model(),
        spec=run.routed,
        state=run.state if run.routed.gbdt else {k: v for k, v in run.state.items() if k != GBDT},
        threshold=run.threshold,
        calibrator=run.calibrator,
        explainer=run.explainer,
        fingerprint=run.result["model_fingerprint"],
        scaling=run.scaling,
        score_bands=run.score_bands,
        ignored_columns=ignored_columns(run.data.spec, run.routed),
    )
    path = export_saved_model(model, run.model_dir.export_root)
    run.result["export_path"] = str(path)
    run.result["export_seconds"] = time.perf_counter() - started
    run.log(f"exported SavedModel to {path} in {run.result['export_seconds']:.0f} s")
    pruned = run.model_dir.prune_exports(run.config.keep_exports)
    if pruned:
        run.log(f"removed {len(pruned)} older export version(s), keeping the newest {run.config.keep_exports}")


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


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def format_table(result: dict) -> str:
    lines = [f"{'metric':<22}{'test':>10}"]
    lines += [f"{k:<22}{result[k]:>10.4f}" for k in TABLE_KEYS if k in result]
    if result.get("cutoff") is not None:
        policy = result["cutoff"]
        lines.append(
            f"{'cut-off (points)':<22}{policy['points']:>10.1f}   ({policy['policy']}; --cutoff={policy['rule']})"
        )
        lines.append(
            f"{'approval rate':<22}{policy['approval_rate']:>10.4f}   (default rate "
            f"{_share(policy['approved_bad_rate'])} among the approved, {_share(policy['declined_bad_rate'])} among "
            f"the declined)"
        )
    if result.get("readable_share") is not None:
        lines.append(
            f"{'readable_share':<22}{result['readable_share']:>10.4f}   (R² of the logit carried by readable "
            f"characteristics)"
        )
    if result.get("oracle_auc") is not None:
        lines.append(
            f"{'oracle_auc':<22}{result['oracle_auc']:>10.4f}   (true probabilities; the best any model can reach)"
        )
        lines.append(f"{'gap_to_oracle':<22}{result['oracle_auc'] - result['auc']:>10.4f}")
    if result.get("oracle_auc_permitted") is not None:
        permitted = result["oracle_auc_permitted"]
        lines.append(
            f"{'oracle_auc_permitted':<22}{permitted:>10.4f}   (the best from the inputs this run may use: the "
            f"protected columns' effect averaged out)"
        )
        lines.append(f"{'gap_to_permitted':<22}{permitted - result['auc']:>10.4f}")
    lines.append(f"{'n_train/valid/test':<22}{result['n_train']:>10,} / {result['n_valid']:,} / {result['n_test']:,}")
    lines.append(
        f"{'train examples/s':<22}{result['train_examples_per_sec']:>10,.0f}   (steady-state median, batch "
        f"{result['batch_size']})"
    )
    return "\n".join(lines)


def finish(run: TrainingRun) -> None:
    run.result["wall_seconds"] = time.perf_counter() - run.started
    run.result["stage_seconds"] = dict(run.stage_seconds)
    run.result["fit_seconds"] = sum(run.stage_seconds.get(stage.__name__, 0.0) for stage in FIT_STAGES)
    run.result["peak_rss_mb"] = peak_rss_mb()
    run.model_dir.save_metrics(run.result)
    run.log(format_table(run.result))


STAGES: tuple[Callable[[TrainingRun], None], ...] = (
    open_run,
    fit_extras,
    encode_splits,
    warm_start,
    train_members,
    combine,
    keep_network,
    keep_readable,
    blend_trees,
    refit_scorecard,
    calibrate,
    evaluate,
    collect_evidence,
    export,
    finish,
)
# the stages that fit the model (what the evidence and the export are weighed against in `make bench`)
FIT_STAGES = STAGES[STAGES.index(fit_extras) : STAGES.index(calibrate) + 1]
