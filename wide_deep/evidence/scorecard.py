"""A points scorecard read off the wide branch, with PDO scaling.

Sign convention: a higher score means lower risk. With factor = PDO / ln 2 and
offset = base_score - factor · ln(base_odds), an applicant with good:bad odds `o` scores
offset + factor · ln(o) = offset - factor · logit(p_default).

The model's logit is bias + Σ_k w_k[attribute] + v · wide_dense + deep(x), so

    score = base_points + Σ_k points_k[attribute] + Σ_j slope_j · encoded_j + deep_points(x)

with points_k[a] = factor · (max_a' w_k[a'] - w_k[a]) (every characteristic's riskiest
attribute gets 0 points, the others more), base_points = offset - factor · (bias + Σ_k max w_k),
slope_j = -factor · v_j per unit of a numeric column's encoding, and deep_points(x) =
-factor · deep(x), the deep branch's share, reported as its own term. For a wide-only model
there is no deep term and the table reproduces the model's score exactly (a test checks it).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from feature_columns.fitting import GBDT


@dataclasses.dataclass(frozen=True)
class Scaling:
    base_score: float = 600.0
    base_odds: float = 50.0  # good:bad odds at base_score
    pdo: float = 20.0  # points to double the odds

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, logit: np.ndarray) -> np.ndarray:
        return self.offset - self.factor * np.asarray(logit, dtype="float64")

    def points(self, probabilities) -> np.ndarray:
        """Points of default probabilities, clipped to [1e-12, 1 - 1e-12] as the export's `score` output is, so
        every row has finite points and bands drawn on them agree with the served scores."""
        p = np.clip(np.asarray(probabilities, dtype="float64"), 1e-12, 1 - 1e-12)
        return self.score(np.log(p / (1 - p)))

    def probability(self, score: float) -> float:
        """The default probability whose score is `score` (the inverse of `score` on probabilities): 0 or 1 for a
        score far beyond the scale's, never an overflow."""
        z = (self.offset - score) / self.factor
        return float(1.0 / (1.0 + math.exp(-z))) if z >= 0 else float(math.exp(z) / (1.0 + math.exp(z)))


def tree_category_names(trees, spec, state: dict) -> dict[str, list[str]]:
    """Names of the GBDT's categorical codes, per column (`Column.tree_codes`: positions in the training vocabulary,
    which the scorecard's labels give without the out-of-vocabulary row the trees see as missing, or hash
    buckets)."""
    return {
        name: spec.column(name).tree_codes(state[name])
        for name, categorical in zip(trees.columns, trees.categorical)
        if categorical
    }


def wide_weights(estimator) -> dict:
    """The trained wide branch and fusion bias as NumPy: table [wide_size], dense kernel [Dw], bias."""
    core = estimator.core
    names = {layer.name for layer in core.layers}
    table = core.get_layer("wide_ids_weights").effective_table().numpy() if "wide_ids_weights" in names else np.zeros(0)
    dense = core.get_layer("wide_dense_weights").kernel.numpy()[:, 0] if "wide_dense_weights" in names else np.zeros(0)
    return {"table": table, "dense": dense, "bias": float(core.get_layer("fusion_bias").bias.numpy())}


READABLE_FEATURES = 2  # a characteristic is readable when it reads one feature or a named pair of them


def characteristic_features(estimator) -> list[tuple[str, ...]]:
    """The raw features each wide segment reads, in the wide table's order: a column's own (a cross's keys), or
    the features on a GBDT tree's splits."""
    trees = estimator.state.get(GBDT)
    out = []
    for segment in estimator.layout.wide_segments:
        if segment.tree is None:
            out.append(tuple(estimator.spec.column(segment.name).source_columns))
        else:
            tree = trees.trees[segment.tree]
            out.append(tuple(dict.fromkeys(trees.columns[f] for f in tree.feature)))
    return out


def readable_parts(estimator, encoded: dict, logit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the readable characteristics' sum, the opaque rest) of each row's logit: logit = bias + readable + rest."""
    weights = wide_weights(estimator)
    logit = np.asarray(logit, dtype="float64")
    readable = np.zeros_like(logit)
    features = characteristic_features(estimator)
    is_readable = np.asarray([len(f) <= READABLE_FEATURES for f in features], dtype=bool)
    if estimator.layout.wide_segments:
        points = weights["table"][np.asarray(encoded["wide_ids"])].astype("float64")
        readable += points[:, is_readable].sum(axis=1)
    if "wide_dense" in encoded:  # numeric slopes: one feature each
        readable += np.asarray(encoded["wide_dense"], dtype="float64") @ weights["dense"].astype("float64")
    return readable, logit - weights["bias"] - readable


def share_of(readable: np.ndarray, rest: np.ndarray) -> float:
    """1 − Var(rest) / Var(readable + rest): the readable share (see `readable_share`)."""
    variance = float((readable + rest).var())
    return float(1.0 - rest.var() / variance) if variance > 0 else 1.0


def scale_opaque(estimator, scale: float, shift: float) -> None:
    """Multiply the model's opaque part (the deep term, trees over more than READABLE_FEATURES features) by `scale`
    and add `shift` to its bias, in place: the readable characteristics are untouched."""
    core, layout = estimator.core, estimator.layout
    names = {layer.name for layer in core.layers}
    if "deep_logit" in names:
        kernel = core.get_layer("deep_logit").kernel
        kernel.assign(kernel * scale)
    opaque = [s for s, f in zip(layout.wide_segments, characteristic_features(estimator)) if len(f) > READABLE_FEATURES]
    if opaque:
        table = core.get_layer("wide_ids_weights").weights_table
        values = table.numpy()
        for segment in opaque:
            values[segment.offset : segment.offset + segment.size] *= scale
        table.assign(values)
    bias = core.get_layer("fusion_bias").bias
    bias.assign(bias + shift)


def readable_share(estimator, encoded: dict, logit: np.ndarray) -> dict:
    """How much of the model's score its readable characteristics carry, on these rows.

    The logit is bias + Σ characteristics + the opaque rest (GBDT trees over more than READABLE_FEATURES features,
    and the deep term). The readable share is the R² of the logit explained by bias + the readable
    characteristics' sum, without refitting: 1 − Var(logit − bias − readable) / Var(logit). 1 is a scorecard; 0
    means the readable part explains nothing of how applicants are ranked apart.
    """
    readable, rest = readable_parts(estimator, encoded, logit)
    opaque = sum(len(f) > READABLE_FEATURES for f in characteristic_features(estimator))
    return {
        "readable_share": share_of(readable, rest),
        "readable_characteristics": len(estimator.layout.wide_segments)
        - opaque
        + len(estimator.layout.wide_dense_names),
        "opaque_characteristics": opaque,
        "opaque_std": float(rest.std()),
        "logit_std": float((readable + rest).std()),
    }


def build_scorecard(estimator, scaling: Scaling) -> tuple[pd.DataFrame, dict]:
    """(one row per characteristic and attribute, summary with base points and the deep term's description)."""
    weights, layout, spec = wide_weights(estimator), estimator.layout, estimator.spec
    rows, max_total = [], 0.0
    trees = estimator.state.get(GBDT)
    categories = {} if trees is None else tree_category_names(trees, spec, estimator.state)
    for segment in layout.wide_segments:
        w = weights["table"][segment.offset : segment.offset + segment.size]
        top = float(w.max())
        max_total += top
        if segment.tree is not None:  # a GBDT tree (each leaf named by its path) or a compiled term (its cells)
            labels, kind = trees.leaf_labels(segment.tree, categories), trees.scorecard_type
        else:
            column = spec.column(segment.name)
            labels, kind = column.attribute_labels(estimator.state[segment.name]), column.scorecard_type
        for index, (label, weight) in enumerate(zip(labels, w)):
            rows.append(
                {
                    "characteristic": segment.name,
                    "type": kind,
                    "attribute_index": index,
                    "attribute": label,
                    "weight": float(weight),
                    "points": scaling.factor * (top - float(weight)),
                }
            )
    for name, v in zip(layout.wide_dense_names, weights["dense"]):
        rows.append(
            {
                "characteristic": name.split(":")[0],
                "type": "numeric (per unit of encoding)",
                "attribute_index": -1,
                "attribute": f"points per unit of {name}",
                "weight": float(v),
                "points": -scaling.factor * float(v),
            }
        )
    summary = {
        "base_score": scaling.base_score,
        "base_odds": scaling.base_odds,
        "pdo": scaling.pdo,
        "factor": scaling.factor,
        "offset": scaling.offset,
        "base_points": scaling.offset - scaling.factor * (weights["bias"] + max_total),
        "has_deep_term": layout.has_deep,
        "sign_convention": "higher score = lower risk; score = offset - factor * logit(p_default)",
    }
    return pd.DataFrame(
        rows, columns=["characteristic", "type", "attribute_index", "attribute", "weight", "points"]
    ), summary


WOE_ADJUSTMENT = 0.5  # added to an attribute's good and bad counts when one of them is 0 (SAS PROC HPBIN's default)


def add_binning_statistics(table: pd.DataFrame, wide_ids: np.ndarray, labels: np.ndarray, segments) -> pd.DataFrame:
    """The scorecard with, per attribute, the training rows it holds (`count`), their defaults (`bad_count`),
    `bad_rate`, weight of evidence `woe` = ln(share of goods / share of bads) (positive: safer than average) and
    its information value `iv` = (share of goods - share of bads) × woe, plus `characteristic_iv`, their sum per
    characteristic; rows sorted as a binning table reads: bins in order, categories, crosses and tree leaves by
    points (safest first). Attributes without rows get no WoE; per-unit numeric rows get no statistics."""
    labels = np.asarray(labels, dtype="float64")
    goods_total, bads_total = float((1 - labels).sum()), float(labels.sum())
    stats = []
    for k, segment in enumerate(segments):
        index = wide_ids[:, k] - segment.offset
        count = np.bincount(index, minlength=segment.size).astype("float64")
        bads = np.bincount(index, weights=labels, minlength=segment.size)
        goods = count - bads
        adjust = np.where((goods == 0) | (bads == 0), WOE_ADJUSTMENT, 0.0)
        share_good, share_bad = (goods + adjust) / goods_total, (bads + adjust) / bads_total
        with np.errstate(divide="ignore", invalid="ignore"):
            woe = np.where(count > 0, np.log(share_good / share_bad), np.nan)
            bad_rate = np.where(count > 0, bads / count, np.nan)
        iv = np.where(count > 0, (share_good - share_bad) * woe, 0.0)
        stats.append(
            pd.DataFrame(
                {
                    "characteristic": segment.name,
                    "attribute_index": np.arange(segment.size),
                    "count": count.astype("int64"),
                    "bad_count": bads.round().astype("int64"),
                    "bad_rate": bad_rate,
                    "woe": woe,
                    "iv": iv,
                }
            )
        )
    out = table.merge(pd.concat(stats), on=["characteristic", "attribute_index"], how="left")
    out["characteristic_iv"] = out.groupby("characteristic")["iv"].transform("sum")
    out[["count", "bad_count"]] = out[["count", "bad_count"]].astype("Int64")  # empty for per-unit numeric rows
    ordered = out["type"].isin(["bucketized", "numeric", "numeric (binned)"]) | (out["attribute_index"] < 0)
    out["_order"] = np.where(ordered, out["attribute_index"], -out["points"])
    position = {name: i for i, name in enumerate(dict.fromkeys(out["characteristic"]))}
    out["_characteristic"] = out["characteristic"].map(position)
    out = out.sort_values(["_characteristic", "_order"], kind="stable").drop(columns=["_order", "_characteristic"])
    return out.reset_index(drop=True)


def score_from_table(
    table: pd.DataFrame, summary: dict, wide_ids: np.ndarray | None, wide_dense: np.ndarray | None, segments
) -> np.ndarray:
    """Scores from the scorecard alone: base points + the points of each row's attributes (wide part only)."""
    n = len(wide_ids) if wide_ids is not None else len(wide_dense)
    score = np.full(n, summary["base_points"], dtype="float64")
    for k, segment in enumerate(segments):
        points = (
            table[(table["characteristic"] == segment.name) & (table["attribute_index"] >= 0)]
            .sort_values("attribute_index")["points"]
            .to_numpy()
        )
        score += points[wide_ids[:, k] - segment.offset]
    if wide_dense is not None:
        slopes = table[table["attribute_index"] < 0]["points"].to_numpy()
        score += wide_dense @ slopes
    return score


def scorecard_markdown(table: pd.DataFrame, summary: dict, deep_share: dict | None = None) -> str:
    """The scorecard as readable Markdown, with the scaling and the deep term (scorecard.md)."""
    lines = [
        "# Scorecard (wide branch)",
        "",
        f"Scaling: {summary['base_score']:g} points at good:bad odds of {summary['base_odds']:g}:1, "
        f"{summary['pdo']:g} points to double the odds (factor {summary['factor']:.3f}, offset "
        f"{summary['offset']:.2f}). **A higher score means lower risk.**",
        "",
        f"Score = base points ({summary['base_points']:.1f}) + the points of each characteristic's attribute"
        + (" + the deep branch's term." if summary["has_deep_term"] else "."),
        "",
    ]
    if deep_share:
        lines += [
            f"Deep branch term on the test split: mean {deep_share['mean']:.1f} points, "
            f"5th–95th percentile {deep_share['p5']:.1f} to {deep_share['p95']:.1f}; standard deviation "
            f"{deep_share['std']:.1f} points against {deep_share['wide_std']:.1f} for the wide points.",
            "",
        ]
    binned = "woe" in table.columns
    for name, group in table.groupby("characteristic", sort=False):
        if binned and group["count"].notna().any():
            lines += [
                f"## {name} (IV {group['characteristic_iv'].iloc[0]:.3f})",
                "",
                "| attribute | weight (logit) | points | count | bad rate | WoE | IV |",
                "|---|---:|---:|---:|---:|---:|---:|",
            ]
            lines += [
                f"| {r.attribute} | {r.weight:+.4f} | {r.points:.1f} | {r.count:,} | "
                + (f"{r.bad_rate:.3f} | {r.woe:+.3f} |" if r.count else "– | – |")
                + f" {r.iv:.4f} |"
                for r in group.itertuples()
            ]
        else:
            lines += [f"## {name}", "", "| attribute | weight (logit) | points |", "|---|---:|---:|"]
            lines += [f"| {r.attribute} | {r.weight:+.4f} | {r.points:.1f} |" for r in group.itertuples()]
        lines.append("")
    return "\n".join(lines)
