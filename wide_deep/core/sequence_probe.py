"""Does a declared sequence tell the model something its aggregates do not? A cheap probe before the tower is built.

A recurrent tower over a sequence costs training and scoring time at every step (on SME it doubled the time of
`make train`); it pays only when the steps carry information the aggregated features miss. The probe asks exactly
that, with the model-free learner a credit modeller would use for the question: one LightGBM (the tuned GBDT's
fixed settings, one grid point, early stopping on a fifth of the training rows) on the scalar features, and one
on the same features plus every step of every sequence, flattened. Both are scored on the validation split; the
run compares the two AUCs (paired DeLong test, `wide_deep.run.stages.choose_sequences`). A flexible learner that
cannot use the steps is strong evidence a tower will not either; one that can says the tower has something to
learn.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from feature_columns.fitting import FittedState
from feature_columns.spec import ModelSpec
from wide_deep.core.gbdt import EARLY_STOPPING_ROUNDS, FIXED, TreeMatrix

PROBE = {"num_leaves": 15, "min_child_samples": 100, "learning_rate": 0.1}
STOPPING_SHARE = 0.2  # of the training rows, held out for the early stopping, so validation judges unseen rows


@dataclasses.dataclass(frozen=True)
class ProbeScores:
    """Validation scores of the probe without and with the sequences' steps, and its time."""

    without: np.ndarray
    with_steps: np.ndarray
    seconds: float


def flattened_steps(arrays: dict[str, np.ndarray], spec: ModelSpec) -> np.ndarray:
    """Every step × channel of every sequence of `spec`, one column each (missing steps stay NaN)."""
    parts = [np.asarray(arrays[c.name], dtype="float64").reshape(len(arrays[c.name]), -1) for c in spec.sequences]
    return np.concatenate(parts, axis=1)


def probe(spec: ModelSpec, state: FittedState, train, valid, seed: int) -> ProbeScores:
    """Fit the two LightGBMs on `train` (a split with arrays and labels) and score `valid`."""
    start = time.perf_counter()
    matrix = TreeMatrix(spec, state)
    x_train, x_valid = matrix(train.arrays), matrix(valid.arrays)
    steps_train, steps_valid = flattened_steps(train.arrays, spec), flattened_steps(valid.arrays, spec)
    stop_rows = np.random.default_rng(seed).random(len(x_train)) < STOPPING_SHARE
    labels = np.asarray(train.labels)

    def fit_and_score(fit_x: np.ndarray, valid_x: np.ndarray) -> np.ndarray:
        import lightgbm as lgb

        model = lgb.LGBMClassifier(**{**FIXED, **PROBE}, random_state=seed)
        model.fit(
            fit_x[~stop_rows],
            labels[~stop_rows],
            eval_X=(fit_x[stop_rows],),
            eval_y=(labels[stop_rows],),
            eval_metric="auc",
            categorical_feature=matrix.categorical or "auto",
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        return model.predict_proba(valid_x, num_iteration=model.best_iteration_)[:, 1]

    without = fit_and_score(x_train, x_valid)
    with_steps = fit_and_score(np.hstack([x_train, steps_train]), np.hstack([x_valid, steps_valid]))
    return ProbeScores(without, with_steps, time.perf_counter() - start)
