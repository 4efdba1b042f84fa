"""LightGBM tuned on validation: the GBDT wide branch's trees, and the baseline a credit modeller would pick.

One tuning routine serves both, on one input representation (`feature_columns.layers.tree_input_model`:
categorical columns as vocabulary positions, numbers as they are), so the GBDT inside the
model starts as exactly the tuned LightGBM the ablation compares it with. The grid is small
and documented: `num_leaves` × `min_child_samples`, each fit with early stopping on the
validation AUC (50 rounds without a gain), learning rate 0.05, at most 3,000 trees. Its time
is the number of boosting rounds: 4 fits × (the best round + 50) trees; waiting 100 rounds
instead cost 20 % more time on the SME data and chose the same model on SME and Taiwan.
"""

from __future__ import annotations

import dataclasses
import itertools
import time

import numpy as np

from feature_columns.fitting import GBDT, FittedState
from feature_columns.inputs import to_tensors
from feature_columns.preprocessor import tree_input_model
from feature_columns.spec import ModelSpec
from feature_columns.trees import Trees
from wide_deep.core.tensors import chunks
from wide_deep.ranking import auc

GRID = {"num_leaves": (15, 63), "min_child_samples": (20, 100)}
SETTINGS = [dict(zip(GRID, values)) for values in itertools.product(*GRID.values())]  # tried in this order
FIXED = {
    "learning_rate": 0.05,
    "n_estimators": 3000,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    # one thread: with OpenMP's sleeping waits (OMP_WAIT_POLICY=PASSIVE) every tree's parallel regions wake two
    # threads, and inside a run the SME fits took 17 s on two threads against 11 s on one (same trees)
    "n_jobs": 1,
    "verbose": -1,
    "deterministic": True,
    "force_row_wise": True,
}
EARLY_STOPPING_ROUNDS = 50


@dataclasses.dataclass
class TunedLightGBM:
    model: object  # the best lightgbm.LGBMClassifier
    params: dict
    valid_auc: float
    seconds: float

    @property
    def trees(self) -> int:
        return int(self.model.best_iteration_ or self.model.n_estimators_)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Margins (log-odds) of the kept trees."""
        return self.model.predict(x, raw_score=True, num_iteration=self.trees)

    def proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(x, num_iteration=self.trees)[:, 1]


def tune(x_train, y_train, x_valid, y_valid, categorical: list[int], seed: int, log=None) -> TunedLightGBM:
    """The grid, each fit with early stopping on validation AUC; the best validation AUC wins (`log`: a line
    per setting)."""
    import lightgbm as lgb

    best, start = None, time.perf_counter()
    for number, params in enumerate(SETTINGS, 1):
        fit_start = time.perf_counter()
        model = lgb.LGBMClassifier(**FIXED, **params, random_state=seed)
        model.fit(
            x_train,
            y_train,
            eval_X=(x_valid,),
            eval_y=(y_valid,),
            eval_metric="auc",
            categorical_feature=categorical or "auto",
            callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
        )
        area = auc(y_valid, model.predict_proba(x_valid, num_iteration=model.best_iteration_)[:, 1])
        if log is not None:
            log(
                f"  LightGBM {number}/{len(SETTINGS)} {params}: validation AUC {area:.4f}, "
                f"{model.best_iteration_ or model.n_estimators_} trees, {time.perf_counter() - fit_start:.0f} s"
            )
        if best is None or area > best[0]:
            best = (area, params, model)
    area, params, model = best
    return TunedLightGBM(model, params, area, time.perf_counter() - start)


class TreeMatrix:
    """Raw prepared arrays → the GBDT's float64 input matrix (the same layers the model's trees read)."""

    def __init__(self, spec: ModelSpec, state: FittedState, batch_size: int = 65536):
        self.columns = [c.name for c in spec.input_columns if c.is_scalar]  # a GBDT reads scalar columns only
        self.model, categorical = tree_input_model(spec, state, self.columns)
        self.categorical = [j for j, c in enumerate(categorical) if c]
        self.batch_size = batch_size

    def __call__(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        tensors = to_tensors({name: arrays[name] for name in self.columns})
        parts = [self.model(block).numpy() for block in chunks(tensors, self.batch_size)]
        return np.concatenate(parts).astype("float64")


def fit_trees(spec: ModelSpec, state: FittedState, train, valid, seed: int, log=print) -> FittedState:
    """The state with the tuned LightGBM's trees under `GBDT` (`train`, `valid`: splits with arrays and labels)."""
    matrix = TreeMatrix(spec, state)
    log(f"GBDT wide branch: tuning LightGBM on validation ({len(SETTINGS)} settings)")
    x_train, x_valid = matrix(train.arrays), matrix(valid.arrays)
    tuned = tune(x_train, train.labels, x_valid, valid.labels, matrix.categorical, seed, log)
    booster = tuned.model.booster_
    trees = Trees.from_lightgbm(booster, matrix.columns, [j in matrix.categorical for j in range(len(matrix.columns))])
    trees = dataclasses.replace(trees, trees=trees.trees[: tuned.trees])
    log(
        f"GBDT wide branch: LightGBM {tuned.params} with {tuned.trees} trees (validation AUC {tuned.valid_auc:.4f}, "
        f"{tuned.seconds:.0f} s)"
    )
    return {**state, GBDT: trees}
