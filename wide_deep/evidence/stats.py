"""Uncertainty for AUC comparisons: DeLong's test for correlated ROC curves and bootstrap intervals.

DeLong, DeLong & Clarke-Pearson (1988), "Comparing the areas under two or more correlated
receiver operating characteristic curves: a nonparametric approach", Biometrics 44(3);
computed with the midrank algorithm of Sun & Xu (2014), IEEE Signal Processing Letters
21(11), which is O(n log n) instead of the O(m·n) placement values.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as scipy_stats


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties given their average rank."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    n = len(x)
    ranks = np.empty(n, dtype="float64")
    i = 0
    while i < n:
        j = i
        while j < n and sorted_x[j] == sorted_x[i]:
            j += 1
        ranks[i:j] = 0.5 * (i + j - 1) + 1
        i = j
    out = np.empty(n, dtype="float64")
    out[order] = ranks
    return out


def delong_components(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUCs (k,), and the structural components V10 (k, m positives) and V01 (k, n negatives).

    `scores` is (k, N): k models scored on the same N examples.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.atleast_2d(np.asarray(scores, dtype="float64"))
    positives, negatives = scores[:, labels], scores[:, ~labels]
    m, n = positives.shape[1], negatives.shape[1]
    if m == 0 or n == 0:
        raise ValueError("DeLong needs at least one positive and one negative example")
    aucs, v10, v01 = [], [], []
    for pos, neg in zip(positives, negatives):
        tx, ty, tz = _midranks(pos), _midranks(neg), _midranks(np.concatenate([pos, neg]))
        aucs.append((tz[:m].sum() - m * (m + 1) / 2) / (m * n))
        v10.append((tz[:m] - tx) / n)
        v01.append(1.0 - (tz[m:] - ty) / m)
    return np.array(aucs), np.array(v10), np.array(v01)


def delong_covariance(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs and their DeLong covariance matrix."""
    aucs, v10, v01 = delong_components(labels, scores)
    m, n = v10.shape[1], v01.shape[1]
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def delong_test(labels: np.ndarray, scores_a: np.ndarray, scores_b: np.ndarray) -> dict[str, float]:
    """Two-sided test of AUC(a) == AUC(b) for two models scored on the same examples."""
    aucs, cov = delong_covariance(labels, np.vstack([scores_a, scores_b]))
    diff = aucs[0] - aucs[1]
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    if variance <= 0:
        z, p = (0.0, 1.0) if diff == 0 else (math.copysign(math.inf, diff), 0.0)
    else:
        z = diff / math.sqrt(variance)
        p = 2 * scipy_stats.norm.sf(abs(z))
    return {
        "auc_a": float(aucs[0]),
        "auc_b": float(aucs[1]),
        "difference": float(diff),
        "z": float(z),
        "p_value": float(p),
    }


def _stratified_resamples(labels: np.ndarray, n_resamples: int, seed: int):
    """Row indices of each stratified bootstrap resample (defaults and non-defaults resampled separately)."""
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(labels == 1), np.flatnonzero(labels != 1)
    for _ in range(n_resamples):
        yield np.concatenate([rng.choice(pos, pos.size), rng.choice(neg, neg.size)])


def _percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2
    return float(np.quantile(values, tail)), float(np.quantile(values, 1 - tail))


def bootstrap_ci(
    labels: np.ndarray, scores: np.ndarray, metric, n_resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of `metric(labels, scores)` over stratified bootstrap resamples of the test set."""
    labels = np.asarray(labels)
    scores = np.asarray(scores)
    values = np.array([metric(labels[idx], scores[idx]) for idx in _stratified_resamples(labels, n_resamples, seed)])
    return _percentile_interval(values, level)


def _weighted_aucs(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of one score column under each row of `weights` (ties count one half), in O(N) per resample."""
    order = np.argsort(scores, kind="mergesort")
    sorted_scores, sorted_labels = scores[order], labels[order].astype("float64")
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])  # tie groups
    w = weights[:, order]
    pos = np.add.reduceat(w * sorted_labels, starts, axis=1)
    neg = np.add.reduceat(w * (1 - sorted_labels), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    return (pos * (below + 0.5 * neg)).sum(axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))


def bootstrap_auc_ci(
    labels: np.ndarray,
    scores: np.ndarray,
    n_resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    chunk: int = 100,
) -> tuple[float, float]:
    """Percentile interval of the mean AUC over score columns (e.g. seeds), the same resamples as `bootstrap_ci`."""
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype="float64").reshape(len(labels), -1)
    counts = np.array(
        [np.bincount(idx, minlength=len(labels)) for idx in _stratified_resamples(labels, n_resamples, seed)],
        dtype="float64",
    )
    values = np.concatenate(
        [
            np.mean(
                [_weighted_aucs(labels, scores[:, j], counts[s : s + chunk]) for j in range(scores.shape[1])], axis=0
            )
            for s in range(0, n_resamples, chunk)
        ]
    )
    return _percentile_interval(values, level)
