"""Baselines a credit modeller would try instead, on exactly the same split and raw features.

- LightGBM, tuned on the validation split (`wide_deep.core.gbdt`: a small documented grid,
  early stopping on validation AUC), exactly as the GBDT inside the model is. Categorical
  columns are their training-vocabulary positions; unseen values are missing.
- scikit-learn logistic regression on the one-hot encoding our `wide` variant with crosses
  uses (the same fitted vocabularies, buckets and crosses), C chosen on validation from
  `wide_deep.core.warm_start.C_GRID`: a cross-check of our linear branch trained by a
  different optimiser, and the regression the accurate preset's wide branch starts from.
"""

from __future__ import annotations

import time

import numpy as np

from wide_deep.core.gbdt import TreeMatrix, tune
from wide_deep.core.tensors import Encoder
from wide_deep.core.warm_start import fit_logistic, wide_design


def lightgbm_baseline(data, seed: int, log=print, include_protected: bool = False) -> dict:
    """LightGBM tuned on validation (`wide_deep.core.gbdt.tune`: the same tuning and inputs as the GBDT in the
    model) over the model's raw inputs."""
    spec = data.spec.for_model("wide", use_crosses=False, include_protected=include_protected)
    matrix = TreeMatrix(spec, data.state)
    x = {k: matrix(data.splits[k].arrays) for k in ("train", "valid", "test")}
    labels = {k: data.splits[k].labels for k in ("train", "valid", "test")}
    tuned = tune(x["train"], labels["train"], x["valid"], labels["valid"], matrix.categorical, seed)
    log(
        f"LightGBM: best {tuned.params} with {tuned.trees} trees (validation AUC {tuned.valid_auc:.4f}, "
        f"{tuned.seconds:.0f} s)"
    )
    return {
        "valid": tuned.proba(x["valid"]),
        "test": tuned.proba(x["test"]),
        "train_seconds": tuned.seconds,
        "params": {**tuned.params, "trees": tuned.trees},
    }


def logistic_baseline(data, seed: int, log=print, include_protected: bool = False) -> dict:
    """scikit-learn's logistic regression over every column one-hot encoded (crosses included, numbers in their
    encoding), C chosen on validation: `wide_deep.core.warm_start.fit_logistic`, the fit the wide branch starts
    from, on the `wide` variant's inputs."""
    routed = data.spec.for_model("wide", use_crosses=True, include_protected=include_protected)
    encoder = Encoder(routed, data.state)
    splits = {k: encoder.encode_split(data.splits[k].arrays, data.splits[k].labels) for k in ("train", "valid", "test")}
    start = time.perf_counter()
    fitted = fit_logistic(splits["train"], splits["valid"], encoder.layout, seed=seed)
    seconds = time.perf_counter() - start
    coef = np.concatenate([fitted.table, fitted.dense]).astype("float64")

    def proba(split):
        return 1 / (1 + np.exp(-(wide_design(split.features, encoder.layout) @ coef + fitted.intercept)))

    log(f"scikit-learn LR: best C={fitted.c:g} (validation AUC {fitted.valid_auc:.4f})")
    return {
        "valid": proba(splits["valid"]),
        "test": proba(splits["test"]),
        "train_seconds": seconds,
        "params": {"C": fitted.c},
    }
