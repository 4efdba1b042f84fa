"""The one AUC of the project: how every layer measures rank ordering (early stopping and the warm start's C in
training, LightGBM's tuning, the blend, the evidence, the leak check of `make spec`)."""

from __future__ import annotations

import numpy as np


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for 0/1 `labels` (ties count half)."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))
