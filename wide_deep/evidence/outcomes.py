"""What `make monitor` checks beyond PSI/CSI: values training never saw, the approval rate at the run's cut-off,
and, on a batch whose outcomes are known, a back-test of ranking and calibration against the run's test figures.

Every check ends in the same flags as PSI (`stable`, `watch`, `act`), by these documented rules:

- unseen values, per column: the share of rows holding a value outside what the training split held (a category
  not in its values; for a number, a value below its minimum or above its maximum, or, for a coded number with at
  most `CODED_VALUES` distinct training values, any value not among them): watch above 1 %, act above 5 %;
- approval rate at the run's cut-off against the test split's: watch when it moved by more than 5 points, act
  beyond 10;
- back-test ranking: watch when the batch's Gini is below 90 % of the run's test Gini, act below 80 %;
- back-test calibration: observed defaults against the sum of the predicted probabilities (a two-sided binomial
  z-test, as the Basel traffic light): watch at p < 0.05, act at p < 0.0001.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from wide_deep.evidence import metrics
from wide_deep.evidence.scorecard import Scaling
from wide_deep.evidence.strategy import strategy_table

CODED_VALUES = 50  # a number with at most this many distinct training values is a code: new values are unseen
UNSEEN_WATCH, UNSEEN_ACT = 0.01, 0.05
APPROVAL_WATCH, APPROVAL_ACT = 0.05, 0.10
GINI_WATCH, GINI_ACT = 0.90, 0.80
CALIBRATION_WATCH, CALIBRATION_ACT = 0.05, 1e-4
EXAMPLES = 5
FLAGS = ("stable", "watch", "act")


def worst(flags) -> str:
    """The most severe of `flags` (`stable` for none)."""
    return max(flags, key=FLAGS.index, default="stable")


def seen_values(reference) -> dict:
    """What training held of a column, for `unseen_found`: categories are the baseline's own bins; a number
    keeps its range and, when it has at most CODED_VALUES distinct values, the values themselves."""
    reference = np.asarray(reference)
    if reference.dtype.kind in "OSU":
        return {}
    numbers = reference.astype("float64")
    numbers = numbers[~np.isnan(numbers)]
    if numbers.size == 0:
        return {}
    distinct = np.unique(numbers)
    seen = {"min": float(distinct[0]), "max": float(distinct[-1])}
    if distinct.size <= CODED_VALUES:
        seen["values"] = distinct.tolist()
    return seen


def unseen_found(baseline: dict, values) -> np.ndarray | None:
    """The values of a column that training never saw (None when its baseline keeps no record of what it saw: a
    baseline written before `seen` was kept, for numbers)."""
    values = np.asarray(values)
    if values.dtype.kind in "OSU":
        strings = values.astype(str)
        return strings[~np.isin(strings, list(baseline["shares"])) & (strings != "")]
    seen = baseline.get("seen") or {}
    if not seen:
        return None
    numbers = values.astype("float64")
    present = ~np.isnan(numbers)
    if "values" in seen:
        return numbers[present & ~np.isin(numbers, seen["values"])]
    return numbers[present & ((numbers < seen["min"]) | (numbers > seen["max"]))]


def unseen_entry(rows: int, total: int, examples: list) -> dict:
    """A column's unseen-values check: `rows` of `total` held a value training never saw; `examples` a few."""
    share = rows / max(total, 1)
    flag = "act" if share > UNSEEN_ACT else "watch" if share > UNSEEN_WATCH else "stable"
    return {"rows": int(rows), "share": float(share), "flag": flag, "examples": list(examples)}


def approval_shift_of_rate(rate: float, test_rate: float | None) -> dict:
    """The batch's approval rate at the run's cut-off against the test split's (None for a run trained before it
    was recorded: no flag)."""
    rate = float(rate)
    if test_rate is None:
        return {"rate": rate, "test_rate": None, "shift": None, "flag": "stable"}
    shift = rate - test_rate
    flag = "act" if abs(shift) > APPROVAL_ACT else "watch" if abs(shift) > APPROVAL_WATCH else "stable"
    return {"rate": rate, "test_rate": float(test_rate), "shift": float(shift), "flag": flag}


def calibration_test(labels: np.ndarray, probabilities: np.ndarray) -> dict:
    """Observed against expected defaults with the binomial z-test of their difference, and its flag."""
    expected = float(probabilities.sum())
    variance = float((probabilities * (1 - probabilities)).sum())
    observed = int(labels.sum())
    z = (observed - expected) / math.sqrt(variance) if variance > 0 else 0.0
    p = math.erfc(abs(z) / math.sqrt(2))
    flag = "act" if p < CALIBRATION_ACT else "watch" if p < CALIBRATION_WATCH else "stable"
    return {"observed_defaults": observed, "expected_defaults": expected, "z": z, "p_value": p, "flag": flag}


def backtest(labels, probabilities, run_metrics: dict, scaling: Scaling, bands) -> dict:
    """The batch's ranking (AUC, Gini, KS) against the run's test figures, calibration, default rate by the run's
    score bands, and the flags of the module's rules. A batch with one class gets calibration and bands only."""
    labels = np.asarray(labels).astype(int)
    probabilities = np.clip(np.asarray(probabilities, dtype="float64"), 1e-7, 1 - 1e-7)
    out = {
        "rows": int(labels.size),
        "default_rate": float(labels.mean()),
        "mean_predicted": float(probabilities.mean()),
        "brier": float(skm.brier_score_loss(labels, probabilities)),
        "test_auc": run_metrics.get("auc"),
        "test_ks": run_metrics.get("ks"),
        "test_brier": run_metrics.get("brier"),
        "calibration": calibration_test(labels, probabilities),
        "bands": strategy_table(labels, probabilities, scaling, bands or None),
    }
    flags = [out["calibration"]["flag"]]
    if 0 < labels.sum() < labels.size:
        out["auc"] = metrics.auc(labels, probabilities)
        out["gini"] = 2 * out["auc"] - 1
        out["ks"] = metrics.ks_statistic(labels, probabilities)[0]
        test_gini = 2 * run_metrics["auc"] - 1 if run_metrics.get("auc") is not None else None
        if test_gini:
            out["gini_ratio"] = out["gini"] / test_gini
            out["ranking_flag"] = (
                "act" if out["gini_ratio"] < GINI_ACT else "watch" if out["gini_ratio"] < GINI_WATCH else "stable"
            )
            flags.append(out["ranking_flag"])
    out["flag"] = worst(flags)
    return out
