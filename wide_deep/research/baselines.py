"""Baselines a credit modeller would try instead, on exactly the same split and raw features.

- LightGBM, tuned on the validation split (a small documented grid, early stopping on
  validation AUC). Categorical columns use the training vocabulary; unseen values are missing.
- scikit-learn logistic regression on the one-hot encoding our `wide` variant with crosses
  uses (the same fitted vocabularies, buckets and crosses), C chosen on validation: a
  cross-check of our linear branch trained by a different optimiser.
"""

from __future__ import annotations

import itertools
import time

import numpy as np
import scipy.sparse as sp

from feature_columns.inputs import to_tensors
from feature_columns.layers import build_preprocessor
from wide_deep.data.tabular import tree_frame
from wide_deep.evidence import metrics

LIGHTGBM_GRID = {"num_leaves": (15, 63), "min_child_samples": (20, 100)}
LIGHTGBM_FIXED = {
    "learning_rate": 0.05,
    "n_estimators": 3000,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "n_jobs": 2,
    "verbose": -1,
    "deterministic": True,
}
LOGISTIC_C_GRID = (0.01, 0.1, 1.0)


def lightgbm_baseline(data, seed: int, log=print, include_protected: bool = False) -> dict:
    """Grid over LIGHTGBM_GRID, each with early stopping; the best validation AUC is refitted nowhere (kept)."""
    import lightgbm as lgb

    spec = data.spec.for_model("wide", use_crosses=False, include_protected=include_protected)
    frames = {k: tree_frame(spec, data.state, data.splits[k].arrays) for k in ("train", "valid", "test")}
    labels = {k: data.splits[k].labels for k in ("train", "valid", "test")}
    best = None
    start = time.perf_counter()
    for values in itertools.product(*LIGHTGBM_GRID.values()):
        params = dict(zip(LIGHTGBM_GRID, values))
        model = lgb.LGBMClassifier(**LIGHTGBM_FIXED, **params, random_state=seed)
        model.fit(
            frames["train"],
            labels["train"],
            eval_X=(frames["valid"],),
            eval_y=(labels["valid"],),
            eval_metric="auc",
            callbacks=[lgb.early_stopping(100, verbose=False)],
        )
        valid_scores = model.predict_proba(frames["valid"])[:, 1]
        valid_auc = metrics.auc(labels["valid"], valid_scores)
        if best is None or valid_auc > best[0]:
            best = (valid_auc, params, model, valid_scores)
    seconds = time.perf_counter() - start
    _, params, model, valid_scores = best
    log(f"LightGBM: best {params} with {model.best_iteration_} trees (validation AUC {best[0]:.4f})")
    return {
        "valid": valid_scores,
        "test": model.predict_proba(frames["test"])[:, 1],
        "train_seconds": seconds,
        "params": {**params, "trees": int(model.best_iteration_)},
    }


def _wide_design(spec, state, arrays, include_protected: bool) -> sp.csr_matrix:
    routed = spec.for_model("wide", use_crosses=True, include_protected=include_protected)
    preprocessor, layout = build_preprocessor(routed, state)
    inputs = {c.name: arrays[c.name] for c in routed.input_columns}
    encoded = {k: v.numpy() for k, v in preprocessor(to_tensors(inputs)).items()}
    parts = []
    if "wide_ids" in encoded:
        ids = encoded["wide_ids"]
        rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
        parts.append(sp.csr_matrix((np.ones(ids.size), (rows, ids.ravel())), shape=(ids.shape[0], layout.wide_size)))
    if "wide_dense" in encoded:
        parts.append(sp.csr_matrix(encoded["wide_dense"]))
    return sp.hstack(parts).tocsr()


def logistic_baseline(data, seed: int, log=print, include_protected: bool = False) -> dict:
    from sklearn.linear_model import LogisticRegression

    design = {
        k: _wide_design(data.spec, data.state, data.splits[k].arrays, include_protected)
        for k in ("train", "valid", "test")
    }
    labels = {k: data.splits[k].labels for k in ("train", "valid", "test")}
    best = None
    start = time.perf_counter()
    for c in LOGISTIC_C_GRID:
        model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
        model.fit(design["train"], labels["train"])
        valid_scores = model.predict_proba(design["valid"])[:, 1]
        valid_auc = metrics.auc(labels["valid"], valid_scores)
        if best is None or valid_auc > best[0]:
            best = (valid_auc, c, model, valid_scores)
    seconds = time.perf_counter() - start
    log(f"scikit-learn LR: best C={best[1]} (validation AUC {best[0]:.4f})")
    return {
        "valid": best[3],
        "test": best[2].predict_proba(design["test"])[:, 1],
        "train_seconds": seconds,
        "params": {"C": best[1]},
    }
