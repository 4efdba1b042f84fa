"""Baselines a credit modeller would try instead, on exactly the same split and raw features, each with its
readable share (`wide_deep.evidence.scorecard.readable_share`): 0 for tree ensembles (trees over many features),
1 for the logistic regression and the Explainable Boosting Machine (one feature or a pair per term).

- LightGBM, tuned on the validation split (`wide_deep.core.gbdt`: a small documented grid,
  early stopping on validation AUC), exactly as the GBDT inside the model is. Categorical
  columns are their training-vocabulary positions; unseen values are missing.
- CatBoost with its defaults (ordered target statistics for the categorical columns, given as text; 1,000
  trees, no early stopping): the strongest competitor on small-business data.
- InterpretML's Explainable Boosting Machine with its defaults: cyclic boosting of per-feature shape functions
  plus the strongest pairs (FAST), fully readable.
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
        "readable_share": 0.0,
    }


def _raw_frames(data, include_protected: bool) -> tuple[dict, list[str]]:
    """The model's scalar raw inputs per split as frames (text columns as strings), and the text columns."""
    import pandas as pd

    spec = data.spec.for_model("wide", use_crosses=False, include_protected=include_protected)
    columns = [c for c in spec.input_columns if c.is_scalar]
    text = [c.name for c in columns if c.raw_dtype == "string"]
    frames = {}
    for split in ("train", "valid", "test"):
        frame = pd.DataFrame({c.name: data.splits[split].arrays[c.name] for c in columns})
        frame[text] = frame[text].astype(str)
        frames[split] = frame
    return frames, text


def catboost_baseline(data, seed: int, log=print, include_protected: bool = False) -> dict:
    """CatBoost with its defaults on the training split (the validation split is not used)."""
    from catboost import CatBoostClassifier

    frames, text = _raw_frames(data, include_protected)
    start = time.perf_counter()
    model = CatBoostClassifier(
        random_seed=seed, thread_count=2, verbose=0, cat_features=text, allow_writing_files=False
    )
    model.fit(frames["train"], data.splits["train"].labels)
    seconds = time.perf_counter() - start
    log(f"CatBoost (defaults): {model.tree_count_} trees ({seconds:.0f} s)")
    return {
        "valid": model.predict_proba(frames["valid"])[:, 1],
        "test": model.predict_proba(frames["test"])[:, 1],
        "train_seconds": seconds,
        "params": {"trees": model.tree_count_},
        "readable_share": 0.0,
    }


def ebm_baseline(data, seed: int, log=print, include_protected: bool = False) -> dict:
    """InterpretML's Explainable Boosting Machine with its defaults on the training split."""
    from interpret.glassbox import ExplainableBoostingClassifier

    frames, _ = _raw_frames(data, include_protected)
    start = time.perf_counter()
    model = ExplainableBoostingClassifier(random_state=seed, n_jobs=2)
    model.fit(frames["train"], data.splits["train"].labels)
    seconds = time.perf_counter() - start
    pairs = sum(" & " in name for name in model.term_names_)
    log(f"EBM (defaults): {len(model.term_names_)} terms, {pairs} of them pairs ({seconds:.0f} s)")
    return {
        "valid": model.predict_proba(frames["valid"])[:, 1],
        "test": model.predict_proba(frames["test"])[:, 1],
        "train_seconds": seconds,
        "params": {"terms": len(model.term_names_), "pairs": pairs},
        "readable_share": 1.0,
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
        "readable_share": 1.0,
    }
