"""Evaluation metrics for a binary default model: one module for training, ablation and reports."""
from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


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


def classification_metrics(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Positive-class and support-weighted precision/recall/F1 and accuracy at a cut-off."""
    decisions = (scores >= threshold).astype(int)
    p, r, f, _ = skm.precision_recall_fscore_support(labels, decisions, average="binary", zero_division=0)
    pw, rw, fw, _ = skm.precision_recall_fscore_support(labels, decisions, average="weighted", zero_division=0)
    return {"precision": float(p), "recall": float(r), "f1": float(f), "precision_weighted": float(pw),
            "recall_weighted": float(rw), "f1_weighted": float(fw), "accuracy": float(skm.accuracy_score(labels, decisions))}


def evaluate(labels: np.ndarray, scores: np.ndarray, threshold: float) -> dict[str, float]:
    """Threshold-free metrics plus classification metrics at `threshold` and at 0.5 (`*_at_0_5`)."""
    labels = np.asarray(labels).astype(int)
    scores = np.clip(np.asarray(scores, dtype="float64"), 1e-7, 1 - 1e-7)
    auc = float(skm.roc_auc_score(labels, scores))
    ks, ks_score = ks_statistic(labels, scores)
    out = {"auc": auc, "gini": 2 * auc - 1, "ks": ks, "ks_score": ks_score,
           "log_loss": float(skm.log_loss(labels, scores)), "brier": float(skm.brier_score_loss(labels, scores)),
           "threshold": float(threshold), "positive_rate": float(labels.mean()), "mean_score": float(scores.mean())}
    out.update(classification_metrics(labels, scores, threshold))
    out.update({f"{k}_at_0_5": v for k, v in classification_metrics(labels, scores, 0.5).items()})
    return out


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(skm.roc_auc_score(labels, scores))
