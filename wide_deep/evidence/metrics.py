"""Evaluation metrics for a binary default model: one module for training, ablation and reports."""

from __future__ import annotations

import math

import numpy as np
from sklearn import metrics as skm

from feature_columns.errors import UserError
from wide_deep.ranking import auc

# metrics at the decision threshold: the default class's and the support-weighted over both classes
THRESHOLD_METRICS = ("precision", "recall", "f1", "precision_weighted", "recall_weighted", "f1_weighted")


def ks_statistic(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """Kolmogorov–Smirnov: max gap between the defaults' and non-defaults' score CDFs, and where it occurs."""
    fpr, tpr, thresholds = skm.roc_curve(labels, scores)
    i = int(np.argmax(tpr - fpr))
    return float(tpr[i] - fpr[i]), float(min(thresholds[i], 1.0))


def f1_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    """The probability cut-off that maximises the positive-class F1 (choose it on the validation split)."""
    precision, recall, thresholds = skm.precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    return float(thresholds[int(np.argmax(f1))])


CUTOFF_KINDS = ("f1", "probability", "score", "approval")


def parse_cutoff(rule: str) -> tuple[str, float | None]:
    """`f1`, `probability:P`, `score:S` or `approval:R` → (kind, value); a UserError names what is wrong."""
    kind, _, value = rule.partition(":")
    if kind not in CUTOFF_KINDS or (kind == "f1") != (value == ""):
        raise UserError(
            f"cut-off {rule!r}: expected f1, probability:P (decline at P or above), score:S (decline at S points or "
            f"below) or approval:R (approve the share R of the validation split)"
        )
    if kind == "f1":
        return kind, None
    try:
        number = float(value)
    except ValueError:
        raise UserError(f"cut-off {rule!r}: {value!r} is not a number") from None
    if not math.isfinite(number) or (kind in ("probability", "approval") and not 0 < number < 1):
        raise UserError(f"cut-off {rule!r}: {kind} must be {'in (0, 1)' if kind != 'score' else 'finite'}")
    return kind, number


def decision_threshold(rule: str, labels: np.ndarray, scores: np.ndarray, scaling) -> float:
    """The probability at or above which an applicant is declined, from a cut-off rule (`parse_cutoff`); `labels`
    and `scores` are the validation split's (never test), `scaling` the scorecard's points rule."""
    kind, value = parse_cutoff(rule)
    if kind == "f1":
        return f1_threshold(labels, scores)
    if kind == "probability":
        return value
    if kind == "score":
        return scaling.probability(value)
    return float(np.quantile(np.asarray(scores, dtype="float64"), value))  # approval: that share scores below it


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Positive-class and support-weighted precision/recall/F1 and accuracy at a cut-off."""
    decisions = (scores >= threshold).astype(int)
    p, r, f, _ = skm.precision_recall_fscore_support(labels, decisions, average="binary", zero_division=0)
    pw, rw, fw, _ = skm.precision_recall_fscore_support(labels, decisions, average="weighted", zero_division=0)
    return {
        "precision": float(p),
        "recall": float(r),
        "f1": float(f),
        "precision_weighted": float(pw),
        "recall_weighted": float(rw),
        "f1_weighted": float(fw),
        "accuracy": float(skm.accuracy_score(labels, decisions)),
    }


def evaluate(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Threshold-free metrics plus classification metrics at `threshold` and at 0.5 (`*_at_0_5`)."""
    labels = np.asarray(labels).astype(int)
    scores = np.clip(np.asarray(scores, dtype="float64"), 1e-7, 1 - 1e-7)
    area = auc(labels, scores)
    ks, ks_score = ks_statistic(labels, scores)
    out = {
        "auc": area,
        "gini": 2 * area - 1,
        "ks": ks,
        "ks_score": ks_score,
        "log_loss": float(skm.log_loss(labels, scores)),
        "brier": float(skm.brier_score_loss(labels, scores)),
        "threshold": float(threshold),
        "positive_rate": float(labels.mean()),
        "mean_score": float(scores.mean()),
    }
    out.update(classification_metrics(labels, scores, threshold))
    out.update({f"{k}_at_0_5": v for k, v in classification_metrics(labels, scores, 0.5).items()})
    return out


# --- credit-risk evidence: rank ordering, stability, calibration -------------------------------


def gains_table(labels: np.ndarray, scores: np.ndarray, groups: int = 10) -> list[dict]:
    """Bad rate and lift by decile of the predicted probability, riskiest first (decile 1 = highest
    probabilities); `scores` are probabilities of default."""
    labels = np.asarray(labels).astype(int)
    order = np.argsort(-np.asarray(scores, dtype="float64"), kind="mergesort")
    total_bads, base_rate = labels.sum(), labels.mean()
    rows, captured = [], 0
    for k, idx in enumerate(np.array_split(order, groups), start=1):
        bads = int(labels[idx].sum())
        captured += bads
        rate = bads / max(len(idx), 1)
        rows.append(
            {
                "decile": k,
                "count": int(len(idx)),
                "min_probability": float(np.min(scores[idx])),
                "max_probability": float(np.max(scores[idx])),
                "bads": bads,
                "bad_rate": float(rate),
                "cumulative_bad_capture": float(captured / max(total_bads, 1)),
                "lift": float(rate / base_rate) if base_rate > 0 else float("nan"),
            }
        )
    return rows


def quantile_edges(reference: np.ndarray, bins: int = 10) -> np.ndarray:
    """Inner bin edges at the reference distribution's quantiles (duplicates removed): the baseline for PSI/CSI."""
    reference = np.asarray(reference, dtype="float64")
    reference = reference[~np.isnan(reference)]
    if reference.size == 0:
        return np.array([])
    return np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))


def bin_keys(values, edges=None) -> np.ndarray:
    """Each value's bin: numbers cut at `edges` ('0'..'n', NaN → 'missing'), strings by value."""
    values = np.asarray(values)
    if values.dtype.kind in "OSU":
        return values.astype(str)
    numbers = values.astype("float64")
    index = np.searchsorted(np.asarray(edges if edges is not None else [], dtype="float64"), numbers, side="right")
    return np.where(np.isnan(numbers), "missing", index.astype(str))


def distribution(values, edges=None) -> dict[str, float]:
    """Shares by bin (`bin_keys`)."""
    labels, counts = np.unique(bin_keys(values, edges), return_counts=True)
    return dict(zip(labels.tolist(), (counts / max(counts.sum(), 1)).tolist()))


def psi_from_distributions(expected: dict[str, float], actual: dict[str, float]) -> float:
    """sum (a - e) ln(a / e) over the union of bins; an empty bin counts as 0.0001 of the population.

    Summed in sorted bin order: a set's order changes from process to process (string hashing
    is randomised), and with it the last digit of the sum.
    """
    total = 0.0
    for key in sorted(set(expected) | set(actual)):
        e, a = max(expected.get(key, 0.0), 1e-4), max(actual.get(key, 0.0), 1e-4)
        total += (a - e) * np.log(a / e)
    return float(total)


def baseline_distribution(reference, bins: int = 10) -> dict:
    """What PSI/CSI compare against later: the reference's bin edges (numbers) and shares."""
    reference = np.asarray(reference)
    edges = None if reference.dtype.kind in "OSU" else quantile_edges(reference, bins).tolist()
    return {"edges": edges, "shares": distribution(reference, edges)}


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = 10) -> float:
    """Population stability index of `actual` against `expected` (the baseline): numbers binned at the
    baseline's deciles (NaN a bin of its own), strings (categorical features) by value."""
    baseline = baseline_distribution(expected, bins)
    return psi_from_distributions(baseline["shares"], distribution(actual, baseline["edges"]))


def stability_flag(value: float) -> str:
    """The usual reading of a PSI: < 0.1 stable, 0.1–0.25 watch, > 0.25 act."""
    return "act" if value > 0.25 else "watch" if value > 0.1 else "stable"


def reliability_table(labels: np.ndarray, scores: np.ndarray, bins: int = 10) -> list[dict]:
    """Mean predicted vs observed default rate in equal-count bins of the score."""
    labels, scores = np.asarray(labels).astype(float), np.asarray(scores, dtype="float64")
    order = np.argsort(scores, kind="mergesort")
    return [
        {
            "bin": k,
            "count": int(len(idx)),
            "mean_predicted": float(scores[idx].mean()),
            "observed_rate": float(labels[idx].mean()),
        }
        for k, idx in enumerate(np.array_split(order, bins), start=1)
        if len(idx)
    ]


def hosmer_lemeshow(labels: np.ndarray, scores: np.ndarray, groups: int = 10) -> tuple[float, float]:
    """Hosmer–Lemeshow statistic over equal-count groups and its chi-square p-value (groups - 2 df)."""
    from scipy import stats as scipy_stats

    statistic = 0.0
    for row in reliability_table(labels, scores, groups):
        n, expected_rate = row["count"], min(max(row["mean_predicted"], 1e-9), 1 - 1e-9)
        observed = row["observed_rate"] * n
        statistic += (observed - n * expected_rate) ** 2 / (n * expected_rate * (1 - expected_rate))
    return float(statistic), float(scipy_stats.chi2.sf(statistic, groups - 2))


# what `calibration_slope` gives, and `metrics.json` carries
CALIBRATION_SLOPE_KEYS = (
    "calibration_slope",
    "calibration_slope_low",
    "calibration_slope_high",
    "calibration_in_the_large",
)


def calibration_slope(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Logistic recalibration on a split (Cox 1958): the slope b of logit P(default) = a + b · logit(score), with
    its 95% Wald interval, and the calibration-in-the-large a0 of logit P(default) = a0 + logit(score). A slope
    of 1 and an a0 of 0 are ideal; a slope below 1 means over-confident scores, above 1 under-confident. Unlike
    the Hosmer–Lemeshow test, these say how far off calibration is, not only whether a sample this large can
    tell. None where they are undefined: one class only, or scores that do not vary."""
    from scipy.special import expit

    y = np.asarray(labels, dtype="float64")
    z = np.log(scores / (1 - scores))
    undefined = dict.fromkeys(CALIBRATION_SLOPE_KEYS)
    if y.min() == y.max() or np.ptp(z) < 1e-9:
        return undefined
    design = np.column_stack([np.ones_like(z), z])
    theta = np.array([0.0, 1.0])
    for _ in range(50):  # Newton–Raphson on the two-parameter logistic likelihood
        p = expit(design @ theta)
        information = design.T @ (design * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(information, design.T @ (y - p))
        except np.linalg.LinAlgError:  # the fitted probabilities reached 0 and 1
            return undefined
        theta += step
        if np.abs(step).max() < 1e-10:
            break
    else:
        return undefined  # no convergence: the scores separate the classes
    p = expit(design @ theta)
    se = math.sqrt(np.linalg.inv(design.T @ (design * (p * (1 - p))[:, None]))[1, 1])
    offset = 0.0
    for _ in range(50):  # the intercept alone, the scores as an offset
        p = expit(offset + z)
        step = (y - p).sum() / max((p * (1 - p)).sum(), 1e-12)
        offset += step
        if abs(step) < 1e-12:
            break
    slope = float(theta[1])
    return {
        "calibration_slope": slope,
        "calibration_slope_low": slope - 1.96 * se,
        "calibration_slope_high": slope + 1.96 * se,
        "calibration_in_the_large": float(offset),
    }


def calibration_summary(labels: np.ndarray, scores: np.ndarray) -> dict:
    labels = np.asarray(labels).astype(int)
    scores = np.clip(np.asarray(scores, dtype="float64"), 1e-7, 1 - 1e-7)
    statistic, p_value = hosmer_lemeshow(labels, scores)
    return {
        **calibration_slope(labels, scores),
        "brier": float(skm.brier_score_loss(labels, scores)),
        "log_loss": float(skm.log_loss(labels, scores)),
        "hosmer_lemeshow": statistic,
        "hosmer_lemeshow_p": p_value,
        "mean_predicted": float(scores.mean()),
        "observed_rate": float(labels.mean()),
        "reliability": reliability_table(labels, scores),
    }
