"""The decision strategy in points: the run's cut-off policy and what it achieves, and the score-band table a credit
committee sets a cut-off from.

Both are measured on the test split: the cut-off itself was chosen on validation (`metrics.decision_threshold`), so
the test figures are what the policy achieves on data it was not chosen on. Points follow the run's scaling
(`Scaling`: higher points, lower risk); an applicant is declined at or below the cut-off's points.
"""

from __future__ import annotations

import math

import numpy as np

from wide_deep.evidence.metrics import parse_cutoff
from wide_deep.evidence.scorecard import Scaling

MAX_BANDS = 20  # bands of the points to double the odds, widened by whole multiples beyond this many
TAIL_PERCENT = 1.0  # the lowest and the highest 1 % of the points fall in open-ended bands


def _rate(labels: np.ndarray) -> float | None:
    return float(labels.mean()) if labels.size else None


def cutoff_policy(rule: str, threshold: float, scaling: Scaling, labels, probabilities) -> dict:
    """The policy (`--cutoff`'s rule), its cut-off as a probability and in points, and on the test split
    (`labels`, calibrated `probabilities`): the approval rate and the default rates of the approved and the
    declined."""
    kind, value = parse_cutoff(rule)
    labels = np.asarray(labels).astype(int)
    approved = np.asarray(probabilities, dtype="float64") < threshold
    points = float(scaling.points([threshold])[0])
    return {
        "rule": rule,
        "kind": kind,
        "value": value,
        "probability": float(threshold),
        "points": points,
        "policy": f"decline at {points:.1f} points or below (probability of default {threshold:.4f} or above)",
        "approved": int(approved.sum()),
        "declined": int((~approved).sum()),
        "approval_rate": float(approved.mean()) if approved.size else None,
        "approved_bad_rate": _rate(labels[approved]),
        "declined_bad_rate": _rate(labels[~approved]),
    }


def band_edges(points: np.ndarray, scaling: Scaling) -> tuple[float, ...]:
    """Inner band edges: multiples of the points to double the odds counted from the base score, covering the
    points between their 1st and 99th percentiles (at most MAX_BANDS bands there, widened by whole multiples)."""
    low, high = np.percentile(points, [TAIL_PERCENT, 100 - TAIL_PERCENT])
    steps = max(1, math.ceil((high - low) / scaling.pdo / MAX_BANDS))
    width = scaling.pdo * steps
    first = scaling.base_score + math.floor((low - scaling.base_score) / width) * width
    last = scaling.base_score + math.ceil((high - scaling.base_score) / width) * width
    return tuple(float(edge) for edge in np.arange(first, last + width / 2, width))


def _band_name(lower: float, upper: float) -> str:
    if not np.isfinite(lower):
        return f"below {upper:.0f}"
    if not np.isfinite(upper):
        return f"{lower:.0f} and above"
    return f"{lower:.0f} to {upper:.0f}"


def band_names(edges) -> list[str]:
    """The bands' names from the lowest up, for inner `edges` (`band_edges`): `below e0`, `e0 to e1`, ...,
    `eN and above`."""
    bounds = np.concatenate([[-np.inf], np.asarray(edges, dtype="float64"), [np.inf]])
    return [_band_name(lower, upper) for lower, upper in zip(bounds[:-1], bounds[1:])]


def band_index(points: np.ndarray, edges) -> np.ndarray:
    """Each row's band (a position in `band_names`) for its points: a band holds its lower edge."""
    return np.searchsorted(np.asarray(edges, dtype="float64"), np.asarray(points, dtype="float64"), "right")


def strategy_table(labels, probabilities, scaling: Scaling, edges=None) -> list[dict]:
    """Score bands from the highest points down (the order applicants are approved in): each band's count, share,
    defaults, default rate and good:bad odds, and, were the cut-off at the band's lower edge, the approval rate,
    the default rate among the approved and the share of all defaults declined. `edges`: the inner band edges
    (the run's, fitted on validation; by default `band_edges` of these points)."""
    labels = np.asarray(labels).astype(int)
    points = scaling.points(probabilities)
    if points.size == 0:
        return []
    inner = band_edges(points, scaling) if edges is None else np.asarray(edges, dtype="float64")
    edges = np.concatenate([[-np.inf], inner, [np.inf]])
    total_bads = int(labels.sum())
    rows = []
    for lower, upper in reversed(list(zip(edges[:-1], edges[1:]))):
        inside = (points >= lower) & (points < upper)
        if not inside.any():
            continue
        approved = points >= lower
        bads = int(labels[inside].sum())
        goods = int(inside.sum()) - bads
        rows.append(
            {
                "band": _band_name(lower, upper),
                "min_points": float(lower) if np.isfinite(lower) else None,
                "max_points": float(upper) if np.isfinite(upper) else None,
                "count": int(inside.sum()),
                "share": float(inside.mean()),
                "bads": bads,
                "bad_rate": bads / int(inside.sum()),
                "odds": goods / bads if bads else None,
                "approval_rate": float(approved.mean()),
                "approved_bad_rate": float(labels[approved].mean()),
                "bads_declined": (total_bads - int(labels[approved].sum())) / total_bads if total_bads else None,
            }
        )
    return rows
