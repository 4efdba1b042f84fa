"""Fairness evidence for columns marked `protected: true`: group metrics and a proxy test.

The favourable outcome is approval (decision 0: predicted probability below the threshold).
For each group: AUC, default rate, approval rate, TPR and FPR of the default prediction,
calibration (mean predicted vs observed, Brier). Against a reference group (the largest):

- statistical-parity difference: approval rate(group) - approval rate(reference);
- equal-opportunity difference: approval rate among non-defaulters (the favourable label),
  group minus reference;
- average-odds difference: the mean of that difference among non-defaulters and among
  defaulters;
- adverse-impact ratio: approval rate(group) / approval rate(reference); below 0.8 fails the
  four-fifths rule of the US Uniform Guidelines (fairlearn's demographic-parity ratio takes the
  smallest such ratio over groups).

A group with fewer than MIN_GROUP_ROWS rows, or fewer than MIN_GROUP_CLASS defaulters or
non-defaulters, is marked `too_small` (its AUC and rates are noise: German credit's test split
has groups of 8).

Leaving a protected column out of the model does not stop the other features from encoding
it, so `proxy_auc` measures how well the model's own inputs predict the protected attribute
(LightGBM trained on the training split, AUC on the test split; one-vs-rest macro average
for more than two groups). 0.5 means no proxy; near 1 means removal achieved little.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from feature_columns.fitting import FittedState
from feature_columns.spec import FeatureSpec, ModelSpec
from wide_deep.data.tabular import tree_frame
from wide_deep.ranking import auc

MISSING_GROUP = "(missing)"
MIN_GROUP_ROWS, MIN_GROUP_CLASS = 30, 5
FOUR_FIFTHS = 0.8
# what the report shows per group (group_metrics computes these and a few more)
GROUP_METRICS = (
    "count",
    "default_rate",
    "auc",
    "approval_rate",
    "tpr",
    "fpr",
    "statistical_parity_difference",
    "equal_opportunity_difference",
    "average_odds_difference",
    "adverse_impact_ratio",
    "too_small",
    "mean_predicted",
    "brier",
)
# the group metrics that compare a group with the reference group (the rest describe the group alone)
REFERENCE_COMPARISONS = frozenset(
    {"statistical_parity_difference", "equal_opportunity_difference", "average_odds_difference", "adverse_impact_ratio"}
)


def group_labels(column, values: np.ndarray, train_values: np.ndarray) -> np.ndarray:
    """Group names per row: category values, or numeric ranges cut at `group_boundaries` (default: the training
    median)."""
    meanings = dict(getattr(column, "meanings", None) or ())
    if column.raw_dtype == "string":
        out = np.asarray(values, dtype=object).copy()
        out[out == ""] = MISSING_GROUP
        out = out.astype(str)
        if meanings:  # "2" → "2 (female)"
            named = {code: f"{code} ({meaning})" for code, meaning in meanings.items()}
            out = np.asarray([named.get(v, v) for v in out], dtype=object).astype(str)
        return out
    values = np.asarray(values, dtype="float64")
    cuts = getattr(column, "group_boundaries", None) or [float(np.nanmedian(np.asarray(train_values, dtype="float64")))]
    labels = [f"< {cuts[0]:g}"] + [f"[{a:g}, {b:g})" for a, b in zip(cuts[:-1], cuts[1:])] + [f">= {cuts[-1]:g}"]
    labels = _with_meanings(labels, cuts, meanings)
    index = np.searchsorted(np.asarray(cuts), values, side="right")
    return np.where(
        np.isnan(values), MISSING_GROUP, np.asarray(labels, dtype=object)[np.minimum(index, len(labels) - 1)]
    ).astype(str)


def _with_meanings(labels: list[str], cuts, meanings: dict[str, str]) -> list[str]:
    """Numeric group labels followed by the meanings of the codes each range holds: `< 2 (1: married)`."""
    coded = []
    for code, meaning in meanings.items():
        try:
            coded.append((float(code), f"{code}: {meaning}"))
        except ValueError:
            continue
    if not coded:
        return labels
    out = []
    for k, label in enumerate(labels):
        inside = [text for number, text in coded if np.searchsorted(np.asarray(cuts), number, side="right") == k]
        out.append(f"{label} ({'; '.join(inside)})" if inside else label)
    return out


def _rate(mask: np.ndarray) -> float:
    return float(mask.mean()) if mask.size else float("nan")


def group_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float, groups: np.ndarray) -> dict:
    labels, scores = np.asarray(labels).astype(int), np.asarray(scores, dtype="float64")
    approved = scores < threshold
    rows = {}
    for group in sorted(set(groups), key=lambda g: -np.sum(groups == g)):
        m = groups == group
        y, s, a = labels[m], scores[m], approved[m]
        rows[group] = {
            "count": int(m.sum()),
            "default_rate": float(y.mean()),
            "auc": auc(y, s) if 0 < y.sum() < len(y) else None,
            "approval_rate": _rate(a),
            "tpr": _rate(~a[y == 1]),
            "fpr": _rate(~a[y == 0]),  # the default prediction (decline)
            "approval_rate_non_defaulters": _rate(a[y == 0]),
            "approval_rate_defaulters": _rate(a[y == 1]),
            "mean_predicted": float(s.mean()),
            "brier": float(np.mean((s - y) ** 2)),
            "too_small": bool(m.sum() < MIN_GROUP_ROWS or min(y.sum(), len(y) - y.sum()) < MIN_GROUP_CLASS),
        }
    reference = next(iter(rows))
    ref = rows[reference]
    for row in rows.values():
        row["statistical_parity_difference"] = row["approval_rate"] - ref["approval_rate"]
        row["equal_opportunity_difference"] = row["approval_rate_non_defaulters"] - ref["approval_rate_non_defaulters"]
        row["adverse_impact_ratio"] = row["approval_rate"] / ref["approval_rate"] if ref["approval_rate"] > 0 else None
        row["average_odds_difference"] = 0.5 * (
            (row["approval_rate_non_defaulters"] - ref["approval_rate_non_defaulters"])
            + (row["approval_rate_defaulters"] - ref["approval_rate_defaulters"])
        )
    ratios = [r["adverse_impact_ratio"] for r in rows.values() if r["adverse_impact_ratio"] is not None]
    return {
        "reference_group": reference,
        "groups": rows,
        "min_adverse_impact_ratio": min(ratios, default=None),
        "four_fifths_rule": "passes" if min(ratios, default=1.0) >= FOUR_FIFTHS else "fails",
        "too_small_groups": [g for g, r in rows.items() if r["too_small"]],
    }


def proxy_auc(
    model_spec: ModelSpec,
    state: FittedState,
    train: dict,
    test: dict,
    train_groups: np.ndarray,
    test_groups: np.ndarray,
    seed: int = 0,
) -> float | None:
    """How well the model's inputs predict the protected groups (test AUC); None with fewer than two groups."""
    import lightgbm as lgb

    classes = sorted(set(train_groups) & set(test_groups))
    if len(classes) < 2:
        return None
    keep_train, keep_test = np.isin(train_groups, classes), np.isin(test_groups, classes)
    x_train = tree_frame(model_spec, state, {k: v[keep_train] for k, v in train.items()})
    x_test = tree_frame(model_spec, state, {k: v[keep_test] for k, v in test.items()})
    y_train = pd.Categorical(train_groups[keep_train], categories=classes).codes
    y_test = pd.Categorical(test_groups[keep_test], categories=classes).codes
    model = lgb.LGBMClassifier(
        n_estimators=200,
        learning_rate=0.05,
        num_leaves=31,
        subsample=0.8,
        subsample_freq=1,
        colsample_bytree=0.8,
        n_jobs=1,
        verbose=-1,
        deterministic=True,
        random_state=seed,
    )
    model.fit(x_train, y_train)
    proba = model.predict_proba(x_test)
    if len(classes) == 2:
        return auc(y_test, proba[:, 1])
    return float(skm.roc_auc_score(y_test, proba, multi_class="ovr", average="macro", labels=list(range(len(classes)))))


def fairness_evidence(
    spec: FeatureSpec,
    model_spec: ModelSpec,
    state: FittedState,
    splits: dict,
    test_scores: np.ndarray,
    threshold: float,
    seed: int = 0,
) -> dict:
    """Per protected column: whether the model used it, group metrics on test, and the proxy AUC."""
    train_x, _ = splits["train"]
    test_x, test_y = splits["test"]
    used = {c.name for c in model_spec.input_columns}
    out = {}
    for column in spec.protected_columns:
        train_groups = group_labels(column, train_x[column.name], train_x[column.name])
        test_groups = group_labels(column, test_x[column.name], train_x[column.name])
        out[column.name] = {
            "in_model": column.name in used,
            **group_metrics(test_y, test_scores, threshold, test_groups),
            "proxy_auc": proxy_auc(model_spec, state, train_x, test_x, train_groups, test_groups, seed),
        }
    return out
