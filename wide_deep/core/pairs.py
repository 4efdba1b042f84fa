"""Pairs of features whose interaction the additive scorecard misses, proposed as named two-feature characteristics.

The ranking is FAST's (Lou et al. 2013, "Accurate intelligible models with pairwise interactions", the one
Explainable Boosting Machines use), made honest by cross-fitting on the training rows alone (the validation split
chooses C and the epoch; choosing pairs on it too overfitted it): the wide branch's additive model (every
characteristic of the routed spec, fitted as the warm start's logistic regression) leaves residuals; the training
rows are dealt into two halves, and for each pair of single-feature characteristics the Newton step of a table
over the pair's cells (their bins or categories) is fitted on one half's residuals,

    w[cell] = Σ_half g / (Σ_half h + λ),   g = y - p, h = p (1 - p),

and scored by the log-likelihood gain it brings on the other half, to second order,

    gain = Σ_other half's cells (G · w - H · w² / 2),

both ways round. A table that only fits noise scores below zero. The pairs with a positive gain, best first, at
most `max_pairs`, become crosses of the two features (cells seen at least `MIN_FREQUENCY` times in training, the
rest in one out-of-vocabulary cell): a readable characteristic each, with points per cell like any other.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from feature_columns.kinds.crossed import CrossedColumn, ProposedCrosses
from feature_columns.spec import ModelSpec
from wide_deep.core.tensors import EncodedSplit, Encoder
from wide_deep.core.warm_start import fit_logistic, wide_design

RIDGE = 10.0  # λ: a cell's step is shrunk towards 0 as if it had this much more curvature
MIN_FREQUENCY = 10  # a proposed cross's cells seen fewer times in training share its out-of-vocabulary weight


@dataclasses.dataclass(frozen=True)
class RankedPair:
    keys: tuple[str, str]
    gain: float  # validation log-likelihood gain (nats, summed over rows)


def rank_pairs(train: EncodedSplit, valid: EncodedSplit, encoder: Encoder, seed: int) -> list[RankedPair]:
    """Every pair of single-feature wide characteristics not already crossed, by FAST's cross-fitted gain on the
    training rows, best first (`valid` chooses the additive model's C only)."""
    layout, spec = encoder.layout, encoder.spec
    fitted = fit_logistic(train, valid, layout, seed=seed)
    coef = np.concatenate([fitted.table, fitted.dense]).astype("float64")
    single = [
        k
        for k, segment in enumerate(layout.wide_segments)
        if segment.tree is None and len(spec.column(segment.name).source_columns) == 1
    ]
    if len(single) < 2:
        return []
    crossed = {frozenset(c.keys) for c in spec.crosses}
    p = 1.0 / (1.0 + np.exp(-(wide_design(train.features, layout) @ coef + fitted.intercept)))
    g, h = train.labels - p, p * (1 - p)
    ids = np.asarray(train.features["wide_ids"])
    cells = {k: ids[:, k] - layout.wide_segments[k].offset for k in single}
    half = np.random.default_rng(seed).permutation(len(g)) % 2 == 0
    ranked = []
    for a, b in itertools.combinations(single, 2):
        names = (layout.wide_segments[a].name, layout.wide_segments[b].name)
        if frozenset(names) in crossed:
            continue
        size_b = layout.wide_segments[b].size
        cell = cells[a] * size_b + cells[b]
        size = layout.wide_segments[a].size * size_b
        gain = 0.0
        for fit, score in ((half, ~half), (~half, half)):
            g_fit, h_fit = _sums(cell[fit], size, g[fit], h[fit])
            w = g_fit / (h_fit + RIDGE)
            g_held, h_held = _sums(cell[score], size, g[score], h[score])
            gain += float((g_held * w - h_held * w**2 / 2).sum())
        ranked.append(RankedPair(names, gain))
    return sorted(ranked, key=lambda pair: -pair.gain)


def _sums(cell: np.ndarray, size: int, g: np.ndarray, h: np.ndarray):
    return np.bincount(cell, weights=g, minlength=size), np.bincount(cell, weights=h, minlength=size)


def ranked_pairs(routed: ModelSpec, state: dict, train, valid, seed: int) -> list[RankedPair]:
    """Every pair by its cross-fitted gain, best first (`train`, `valid`: raw splits with arrays and labels)."""
    encoder = Encoder(routed, state)
    encoded = [encoder.encode_split(split.arrays, split.labels) for split in (train, valid)]
    return rank_pairs(*encoded, encoder, seed)


def propose_crosses(ranked: list[RankedPair], max_pairs: int, log=print):
    """(the crosses of the best `max_pairs` of the `ranked_pairs` with a positive gain, their `ProposedCrosses`
    entry): see the module docstring."""
    ranked = [pair for pair in ranked if pair.gain > 0][:max_pairs]
    crosses = tuple(CrossedColumn(pair.keys, min_frequency=MIN_FREQUENCY) for pair in ranked)
    said = ", ".join(f"{' × '.join(p.keys)} (+{p.gain:.1f})" for p in ranked) or "none with a positive gain"
    log(f"pairs the additive scorecard misses (FAST, cross-fitted log-likelihood gain on train): {said}")
    return crosses, ProposedCrosses(crosses)
