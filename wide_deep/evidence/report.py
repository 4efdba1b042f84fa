"""A self-contained HTML model report rendered from a `model_dir` alone (plots embedded, no network).

Sections (each an element with a stable id, which the tests look for): label, data, metrics
(with bootstrap confidence intervals), roc, ks, gains, calibration, scorecard, fairness,
stability, importance, reasons.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from feature_columns.errors import UserError
from wide_deep.evidence import fairness, metrics, stats
from wide_deep.evidence.plots import png_data_uri
from wide_deep.record.config import flat_settings
from wide_deep.record.model_dir import ModelDir
from wide_deep.record.provenance import utc_now

MAX_ATTRIBUTES_SHOWN = 20

STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
body{line-height:1.4}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em;display:block;max-width:100%;overflow-x:auto}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
h2{border-bottom:2px solid #444;padding-bottom:.2em;margin-top:2em}
td.text{text-align:left;word-break:break-all}td.words{text-align:left}
table.header th{text-align:left;white-space:nowrap}
.flag-act{color:#b00;font-weight:bold}.flag-watch{color:#c70}.note{color:#555;font-size:.9em}img{max-width:100%}"""


# metrics.json keys → the labels the report shows
# the metrics.json figures the metrics table lists after AUC, Gini and KS, in this order (labels in LABELS)
METRIC_ROWS = (
    "brier",
    "log_loss",
    "psi",
    "threshold",
    "precision",
    "recall",
    "f1",
    "accuracy",
    "oracle_auc",
    "oracle_auc_permitted",
)


# evidence keys → what every report table shows for them, as a column header or a metric's name (a key not
# listed is shown as it is)
LABELS = {
    "auc": "AUC",
    "ks": "KS",
    "gini": "Gini",
    "brier": "Brier score",
    "log_loss": "log loss",
    "positive_rate": "default rate",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "missing_bucket": "imputed (missing)",
    "rare_to_oov": "rare → out of vocabulary",
    "unseen_to_oov": "unseen → out of vocabulary",
    "min_probability": "lowest probability",
    "max_probability": "highest probability",
    "min_score": "lowest probability",  # the gains table's names in evidence written before the rename
    "max_score": "highest probability",
    "bads": "defaults",
    "bad_rate": "default rate",
    "default_rate": "default rate",
    "cumulative_bad_capture": "share of all defaults (cumulative)",
    "hosmer_lemeshow": "Hosmer–Lemeshow statistic",
    "hosmer_lemeshow_p": "Hosmer–Lemeshow p-value",
    "calibration_slope": "calibration slope (1 ideal, < 1 over-confident)",
    "calibration_in_the_large": "calibration-in-the-large (log-odds, 0 ideal)",
    "mean_predicted": "mean predicted",
    "observed_rate": "observed default rate",
    "woe": "WoE",
    "iv": "IV",
    "characteristic_iv": "IV of the characteristic",
    "approval_rate": "approval rate",
    "approved_bad_rate": "default rate of the approved",
    "auc_difference": "AUC difference",
    "delong_p": "DeLong p-value",
    "bads_declined": "share of defaults declined",
    "share": "share of applicants",
    "odds": "odds (good : bad)",
    "band": "points",
    "tpr": "TPR",
    "fpr": "FPR",
    "statistical_parity_difference": "statistical parity difference",
    "equal_opportunity_difference": "equal opportunity difference",
    "average_odds_difference": "average odds difference",
    "adverse_impact_ratio": "adverse-impact ratio",
    "too_small": "too small to read",
    "csi": "CSI",
    "permutation_auc_drop": "AUC lost when shuffled",
    "wide_points_range": "wide points range",
    "mean_abs_contribution": "mean |contribution| (logit)",
    "psi": "PSI (train → test scores)",
    "threshold": "cut-off (probability)",
    "precision": "precision (defaults)",
    "recall": "recall (defaults)",
    "f1": "F1 (defaults)",
    "accuracy": "accuracy",
    "oracle_auc": "oracle AUC (true probabilities)",
    "oracle_auc_permitted": "oracle AUC without the protected columns' effect",
}
P_VALUE_COLUMNS = {"hosmer_lemeshow_p", "delong_p"}


def _p_value(p: float) -> str:
    """A p-value as a validator reads it: never 0.0000."""
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return html.escape(str(value))


NUMBER_TEXT = re.compile(r"[<>]?\s*-?[\d.,]+")  # a number written as text, e.g. a p-value "< 0.0001"


def _table(rows: list[dict], columns: list[str] | None = None, digits: int = 4) -> str:
    """An HTML table of `rows`, headed by LABELS (the key itself where none is set); p-values as
    `_p_value` writes them."""
    if not rows:
        return "<p class='note'>(none)</p>"
    columns = columns or list(dict.fromkeys(k for r in rows for k in r))  # every key any row has
    head = "".join(f"<th>{html.escape(LABELS.get(c, c))}</th>" for c in columns)

    def cell(row: dict, column: str) -> str:
        value = row.get(column)
        if column in P_VALUE_COLUMNS and isinstance(value, (float, np.floating)) and not np.isnan(value):
            return _p_value(value)
        return _fmt(value, digits)

    def td(row: dict, column: str) -> str:  # words read from the left, numbers (p-values as text too) from the right
        value = row.get(column)
        words = isinstance(value, str) and not NUMBER_TEXT.fullmatch(value)
        return f"<td class='words'>{cell(row, column)}</td>" if words else f"<td>{cell(row, column)}</td>"

    body = "".join("<tr>" + "".join(td(r, c) for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _figure(draw, alt: str) -> str:
    """A plot embedded as PNG; `alt` says what it shows (read aloud, shown when images are off)."""
    return f"<img alt='{html.escape(alt, quote=True)}' src='{png_data_uri(draw)}'>"


def _section(key: str, title: str, body: str) -> str:
    return f"<section id='{key}'><h2>{html.escape(title)}</h2>{body}</section>"


def applicable_settings(config) -> dict:
    """The run's settings under their flags' names, without those that had no effect on it: the synthetic
    generator's unless it made the data, the sharding's unless the data was sharded, the split seed of an
    out-of-time split, the sequence tower's when no sequence could be read."""
    settings = flat_settings(config.to_dict())
    unused = set()
    if config.dataset != "sme" or config.train_data:
        unused |= {"num_enterprises", "data_seed"}
    if not config.sharded:
        unused |= {"valid_data", "test_data", "fit_shards", "streaming", "shuffle_window"}
    if config.split == "time":
        unused.add("split_seed")
    if config.model.sequences == "aggregates":
        unused |= {"sequence_tower", "sequence_units"}
    return {key: value for key, value in settings.items() if key not in unused}


def _governance_header(run: ModelDir, m: dict, config) -> str:
    """What a model-governance file needs first: which model, export, data, spec, settings and code."""
    provenance = m.get("provenance", {})
    export = run.latest_export()
    spec_text = run.saved_spec_text() or ""
    rows = [
        {
            "item": "model",
            "value": f"{m.get('model_type')} on {m.get('dataset')}; fingerprint {m.get('model_fingerprint')}",
        },
        {"item": "export version", "value": export.name if export is not None else "(not exported)"},
        {"item": "trained", "value": provenance.get("trained_at", "(not recorded)")},
        {"item": "report rendered", "value": utc_now()},
        {"item": "code version", "value": provenance.get("code_version", "(not recorded)")},
        {
            "item": "spec",
            "value": f"{config.spec or 'built-in ' + str(config.dataset)}; sha256 "
            f"{hashlib.sha256(spec_text.encode()).hexdigest()} (of the run's spec.yaml)",
        },
    ]
    checksums = m.get("data_report", {}).get("sha256", {})
    rows += [{"item": "data", "value": f"{path}: sha256 {digest}"} for path, digest in checksums.items()]
    settings = applicable_settings(config)
    rows.append({"item": "settings", "value": "; ".join(f"{k}={v}" for k, v in settings.items())})
    body = "".join(
        f"<tr><th>{html.escape(r['item'])}</th><td class='text'>{html.escape(str(r['value']))}</td></tr>" for r in rows
    )
    return f"<table class='header'>{body}</table>"


@dataclasses.dataclass(frozen=True)
class ReportInputs:
    """What every section reads: the run's record, its test labels and scores, and its scorecard."""

    run: ModelDir
    metrics: dict
    evidence: dict
    config: object  # the run's RunConfig
    labels: np.ndarray
    scores: np.ndarray
    scorecard: pd.DataFrame
    n_bootstrap: int
    challengers: dict = dataclasses.field(default_factory=dict)  # name → test probabilities


SYNTHETIC_DATASETS = {"sme"}  # the generator's data: a known true probability, no real applicants


def _use_and_limitations(r: ReportInputs) -> str:
    """What a model-risk file states first, generated from what the run knows: its intended use, the design of
    its validation, and the weaknesses its own evidence shows."""
    m, ev = r.metrics, r.evidence
    policy = m.get("cutoff")
    use = (
        f"<p><b>Intended use.</b> Rank applications like those of dataset <b>{_fmt(m.get('dataset'))}</b> by their "
        f"probability of default, defined as: {html.escape(ev['label']['definition'])}; points and reasons per "
        f"applicant"
        + (f"; decisions by the policy <i>{html.escape(policy['policy'])}</i>" if policy else "")
        + ". Not validated for populations, products or periods other than the data it was trained on.</p>"
    )
    design = (
        f"<p><b>Validation design.</b> {_split_design(r)}: "
        f"{m.get('n_train', 0):,} training, {m.get('n_valid', 0):,} validation and {m.get('n_test', 0):,} test rows. "
        "Every fitted choice (preprocessing on training; regularisation, early stopping, calibration, cut-off and "
        "score bands on validation) leaves the test split untouched."
        + (
            ""
            if _out_of_time(r)
            else " There is no out-of-time test: the test rows come from the same period as the training rows "
            "(--split=time makes one when the spec names the applications' date)."
        )
        + "</p>"
    )
    protected = list(ev.get("fairness", {}))
    left_out = [name for name in protected if not ev["fairness"][name].get("in_model")]
    fairness = (
        f"<p><b>Protected attributes.</b> {', '.join(html.escape(n) for n in protected) or 'none declared'}"
        + (f"; left out of the model: {', '.join(html.escape(n) for n in left_out)}" if left_out else "")
        + ". Their outcomes by group and proxy tests are in the fairness section.</p>"
    )
    return use + design + fairness + "<p><b>Known weaknesses</b> (from this run's evidence):</p>" + _weaknesses(r)


def _out_of_time(r: ReportInputs) -> dict | None:
    split = (r.metrics.get("data_report") or {}).get("split") or {}
    return split if split.get("design") == "time" else None


def _split_design(r: ReportInputs) -> str:
    """The split design in words: out of time with each split's period, random with its seed, or given files."""
    split = _out_of_time(r)
    if split:
        periods = "; ".join(f"{name} {first} to {last}" for name, (first, last) in split["periods"].items())
        return f"An out-of-time 60/20/20 split on {html.escape(split['date_column'])} ({periods})"
    if r.config.sharded:
        return "Training, validation and test rows from the files given (--train_data, --valid_data, --test_data)"
    return f"A random stratified 60/20/20 split (split seed {_fmt(r.config.split_seed)})"


def _weaknesses(r: ReportInputs) -> str:
    m, ev = r.metrics, r.evidence
    found = []
    readable = ev.get("scorecard", {}).get("readability") or {}
    if readable.get("readable_share") is not None and readable["readable_share"] < 1:
        found.append(
            f"{1 - readable['readable_share']:.1%} of the score's variance (logit R²) is carried by opaque terms "
            "(the deep term, trees over more than two features), not by readable characteristics."
        )
    y = np.asarray(r.labels).astype(int)
    for name, scores in r.challengers.items():
        test = stats.delong_test(y, r.scores, scores)
        if test["difference"] < 0 and test["p_value"] < 0.05:
            found.append(
                f"The challenger {CHALLENGER_NAMES.get(name, name).split(' (')[0]} ranks better on the test split "
                f"(AUC {test['auc_b']:.4f} against {test['auc_a']:.4f}, DeLong p {_p_value(test['p_value'])})."
            )
    if m.get("hosmer_lemeshow_p") is not None and m["hosmer_lemeshow_p"] < 0.05:
        found.append(
            f"Calibration is rejected on the test split (Hosmer–Lemeshow p {_p_value(m['hosmer_lemeshow_p'])}"
            f"{_slope_note(m)}): read probabilities as ranks, or calibrate (--calibration)."
        )
    for name, entry in ev.get("fairness", {}).items():
        if entry.get("four_fifths_rule") not in (None, "passes"):
            found.append(f"{html.escape(name)}: the four-fifths rule {html.escape(str(entry['four_fifths_rule']))}.")
        if entry.get("too_small_groups"):
            found.append(f"{html.escape(name)}: groups too small to read ({len(entry['too_small_groups'])}).")
    if m.get("dataset") in SYNTHETIC_DATASETS:
        found.append("The data is synthetic (the project's generator): no figure here describes real applicants.")
    items = "".join(f"<li>{text}</li>" for text in found) or "<li>none found by these checks</li>"
    return f"<ul>{items}</ul>"


def _label(r: ReportInputs) -> str:
    label = r.evidence["label"]
    body = f"<p>Default definition: <b>{html.escape(label['definition'])}</b>.</p>"
    if not label["rejections_in_label"]:
        return body + "<p>Rejected applications are not in the label (accepts-only or not applicable).</p>"
    accepted = r.evidence.get("accepted_only", {})
    return body + (
        f"<p>Rejected applications ({label['rejected_applications']:,}) count as defaults in this label, so the "
        f"model is also evaluated on accepted loans only (test, n = {accepted.get('count', 0):,}):</p>"
        + _table([{k: accepted.get(k) for k in ("auc", "ks", "gini", "brier", "positive_rate")}])
    )


# what the run's network rule (--min_network_gain_se) decided, as `metrics.json`'s network_kept says it
NETWORK_VERDICTS = {
    True: " (the trained network cleared its rule and replaced the scorecard it started from)",
    False: " (the trained network did not beat the scorecard it started from by its rule: the model is that scorecard)",
}


def _slope_note(m: dict) -> str:
    """The calibration slope beside a Hosmer–Lemeshow rejection: how far off, not only whether detectable."""
    if m.get("calibration_slope") is None:
        return ""
    return (
        f"; calibration slope {m['calibration_slope']:.2f}, 95% CI {m['calibration_slope_low']:.2f}–"
        f"{m['calibration_slope_high']:.2f}, calibration-in-the-large {m['calibration_in_the_large']:+.3f}"
    )


def _refit_note(rows: int | None) -> str:
    """What `--refit_scorecard` did to the splits' roles, as `metrics.json`'s refit_rows says it."""
    if not rows:
        return ""
    return (
        f" Once validation had chosen the model, its scorecard's characteristics were refitted on the training and "
        f"validation rows together ({rows:,} rows): the test split stays unseen, and the cut-off, the bands and the "
        "calibrator were read on the validation scores of the model before the refit, out of sample."
    )


def _data(r: ReportInputs) -> str:
    m = r.metrics
    quality = m.get("data_quality", {})
    data_rows = [{"split": s, "rows": m[f"n_{s}"]} for s in ("train", "valid", "test")]
    return (
        f"<p>Dataset <b>{_fmt(m.get('dataset'))}</b>, model <b>{_fmt(m.get('model_type'))}</b> (crosses "
        f"{'on' if m.get('use_crosses') else 'off'}; protected columns "
        f"{'included' if r.config.include_protected else 'excluded from the model'}); test default rate "
        f"{_fmt(m.get('positive_rate'))}; {m.get('epochs_trained')} epochs, best {m.get('best_epoch')}"
        f"{NETWORK_VERDICTS.get(m.get('network_kept'), '')}.{_refit_note(m.get('refit_rows'))}</p>"
        + _table(data_rows)
        + "<p class='note'>Imputed / out-of-vocabulary counts per split (fitted on train):</p>"
        + _table([{"split": s, "column": c, **counts} for s, cols in quality.items() for c, counts in cols.items()])
    )


def _metrics(r: ReportInputs) -> str:
    m, y, p = r.metrics, r.labels, r.scores
    auc_ci = stats.bootstrap_auc_ci(y, p, n_resamples=r.n_bootstrap)
    ks_ci = stats.bootstrap_ci(
        y, p, lambda labels, scores: metrics.ks_statistic(labels, scores)[0], n_resamples=min(r.n_bootstrap, 200)
    )
    rows = [
        {"metric": "AUC", "value": m["auc"], "ci_low": auc_ci[0], "ci_high": auc_ci[1]},
        {"metric": "Gini", "value": m["gini"], "ci_low": 2 * auc_ci[0] - 1, "ci_high": 2 * auc_ci[1] - 1},
        {"metric": "KS", "value": m["ks"], "ci_low": ks_ci[0], "ci_high": ks_ci[1]},
    ]
    rows += [{"metric": LABELS[k], "value": m.get(k)} for k in METRIC_ROWS if m.get(k) is not None]
    if m.get("hosmer_lemeshow_p") is not None:
        rows.insert(5, {"metric": LABELS["hosmer_lemeshow_p"], "value": _p_value(m["hosmer_lemeshow_p"])})
    return _table(rows, ["metric", "value", "ci_low", "ci_high"])


def _roc(r: ReportInputs) -> str:
    auc = r.metrics["auc"]
    fpr, tpr, _ = skm.roc_curve(r.labels, r.scores)
    return f"<p>AUC {_fmt(auc)}</p>" + _figure(
        lambda ax: (
            ax.plot(fpr, tpr, label="model"),
            ax.plot([0, 1], [0, 1], "--", color="grey"),
            ax.set_xlabel("false positive rate"),
            ax.set_ylabel("true positive rate"),
        ),
        f"ROC curve of the test split, AUC {auc:.4f}, against the diagonal of a random score",
    )


def _ks(r: ReportInputs) -> str:
    m, y, p = r.metrics, r.labels, r.scores
    order = np.sort(p)
    bad_cdf = np.searchsorted(np.sort(p[y == 1]), order, side="right") / max((y == 1).sum(), 1)
    good_cdf = np.searchsorted(np.sort(p[y == 0]), order, side="right") / max((y == 0).sum(), 1)
    at_ks = int(np.argmax(np.abs(good_cdf - bad_cdf)))

    def ks_plot(ax):
        ax.plot(order, good_cdf, label="non-defaults")
        ax.plot(order, bad_cdf, label="defaults")
        ax.vlines(order[at_ks], bad_cdf[at_ks], good_cdf[at_ks], colors="black", linestyles=":", label="KS")
        ax.annotate(
            f"KS {m['ks']:.3f}",
            (order[at_ks], (good_cdf[at_ks] + bad_cdf[at_ks]) / 2),
            xytext=(6, 0),
            textcoords="offset points",
        )
        ax.set_xlabel("predicted probability of default")
        ax.set_ylabel("cumulative share")
        ax.legend()

    return f"<p>KS {_fmt(m['ks'])} at probability {_fmt(m.get('ks_score'))}</p>" + _figure(
        ks_plot,
        f"Cumulative shares of non-defaults and defaults by predicted probability; the largest gap, KS "
        f"{m['ks']:.3f}, is marked at probability {order[at_ks]:.3f}",
    )


def _gains(r: ReportInputs) -> str:
    gains = r.evidence["gains"]
    return _table(gains) + _figure(
        lambda ax: (
            ax.bar([g["decile"] for g in gains], [g["bad_rate"] for g in gains]),
            ax.set_xlabel("decile of predicted probability (1 = riskiest)"),
            ax.set_ylabel("bad rate"),
        ),
        "Bad rate by decile of predicted probability of default on the test split, riskiest decile first",
    )


CHALLENGER_NAMES = {
    "logistic": "logistic regression (the wide branch's warm start: the same characteristics, C on validation)",
    "lightgbm": "LightGBM (tuned on validation: the GBDT wide branch's trees)",
}
BENCHMARK_COLUMNS = ["model", "auc", "ci_low", "ci_high", "ks", "brier", "auc_difference", "delong_p"]


def _benchmark(r: ReportInputs) -> str:
    if not r.challengers:
        return (
            "<p class='note'>No challenger was fitted in this run (they are fitted on the way by "
            "<code>--warm_start=logistic</code> and <code>--wide_gbdt</code>, the accurate preset's defaults).</p>"
        )
    y = np.asarray(r.labels).astype(int)
    rows = []
    for name, scores in [("this model", r.scores), *r.challengers.items()]:
        low, high = stats.bootstrap_auc_ci(y, scores, n_resamples=r.n_bootstrap)
        row = {
            "model": CHALLENGER_NAMES.get(name, name),
            "auc": metrics.auc(y, scores),
            "ci_low": low,
            "ci_high": high,
            "ks": metrics.ks_statistic(y, scores)[0],
            "brier": float(skm.brier_score_loss(y, scores)),
        }
        if name != "this model":
            test = stats.delong_test(y, r.scores, scores)
            row.update({"auc_difference": test["difference"], "delong_p": test["p_value"]})
        rows.append(row)
    return (
        "<p>The model against the challengers fitted in the same run, on the same test split. AUC difference: "
        "this model's AUC minus the challenger's; DeLong p: two-sided test of equal AUCs on the same rows.</p>"
        + _table(rows, BENCHMARK_COLUMNS)
    )


STRATEGY_COLUMNS = [
    "band",
    "count",
    "share",
    "bads",
    "bad_rate",
    "odds",
    "approval_rate",
    "approved_bad_rate",
    "bads_declined",
]


def _strategy(r: ReportInputs) -> str:
    bands, policy = r.evidence.get("strategy"), r.metrics.get("cutoff")
    if not bands or not policy:
        return "<p class='note'>This run's evidence was written before the strategy table; train again to add it.</p>"
    approved = policy["approval_rate"]
    summary = (
        f"<p>Policy <code>--cutoff={html.escape(policy['rule'])}</code> (chosen on the validation split): "
        f"<b>{html.escape(policy['policy'])}</b>. On the test split it approves {approved:.1%} of applicants "
        f"({policy['approved']:,}); the default rate is {_fmt(policy['approved_bad_rate'])} among the approved and "
        f"{_fmt(policy['declined_bad_rate'])} among the declined.</p>"
        "<p class='note'>Bands of points from the safest down. The last three columns say what a cut-off at the "
        "band's lower edge would do: approve every band above and this one. Also in strategy.csv.</p>"
    )
    cut = policy["points"]
    marked = [
        {**band, "band": f"{band['band']} (cut-off {cut:.1f})"}
        if (band["min_points"] is None or band["min_points"] <= cut)
        and (band["max_points"] is None or cut < band["max_points"])
        else band
        for band in bands
    ]
    return summary + _table(marked, STRATEGY_COLUMNS)


CALIBRATION_COLUMNS = (
    "brier",
    "hosmer_lemeshow",
    "hosmer_lemeshow_p",
    "calibration_slope",
    "calibration_in_the_large",
    "mean_predicted",
    "observed_rate",
)


def _calibration(r: ReportInputs) -> str:
    before, after = r.evidence["calibration_before"], r.evidence.get("calibration_after")
    method = r.metrics.get("calibration")
    rows = [{"": "uncalibrated", **{k: before.get(k) for k in CALIBRATION_COLUMNS}}]  # older evidence: no slope
    if after:
        rows.append({"": f"after {method}", **{k: after.get(k) for k in CALIBRATION_COLUMNS}})

    def reliability(ax):
        for name, table in (("uncalibrated", before), (method, after)):
            if table:
                ax.plot(
                    [row["mean_predicted"] for row in table["reliability"]],
                    [row["observed_rate"] for row in table["reliability"]],
                    "o-",
                    label=name,
                )
        ax.plot([0, 1], [0, 1], "--", color="grey")
        ax.set_xlabel("mean predicted")
        ax.set_ylabel("observed default rate")
        ax.legend()

    return (
        _table(rows)
        + _figure(reliability, "Observed default rate against mean predicted probability in 10 equal-count bins")
        + "<p class='note'>Reliability table (10 equal-count bins):</p>"
        + _table((after or before)["reliability"])
    )


def _scorecard(r: ReportInputs) -> str:
    sc, m = r.evidence["scorecard"], r.metrics
    body = (
        f"<p>{sc['base_score']:g} points at good:bad odds {sc['base_odds']:g}:1, {sc['pdo']:g} points to double "
        f"the odds; "
        f"<b>a higher score means lower risk</b>. Base points {sc['base_points']:.1f}. Mean test score "
        f"{_fmt(m.get('score_mean_test'), 1)}.</p>"
    )
    if sc.get("readability"):
        body += _readability_note(sc["readability"])
    if sc.get("deep_share"):
        d = sc["deep_share"]
        body += (
            f"<p>Deep branch term (not in the table): mean {d['mean']:.1f} points, 5th–95th percentile "
            f"{d['p5']:.1f} to {d['p95']:.1f}, standard deviation {d['std']:.1f} against {d['wide_std']:.1f} "
            f"for the wide points.</p>"
        )
    if r.evidence.get("fusion"):
        body += _fusion_note(r.evidence["fusion"])
    card, note = _without_trees(r.scorecard)
    return body + note + _scorecard_table(card)


def _readability_note(share: dict) -> str:
    opaque = share["opaque_characteristics"]
    trees = f" and {opaque} trees over more than two features" if opaque else ""
    return (
        f"<p>Readable share on the test split: <b>{share['readable_share']:.3f}</b> of the logit's variance is "
        f"carried by {share['readable_characteristics']} readable characteristics (one feature or a named pair); "
        f"the opaque rest (the deep term{trees}) has a standard deviation of {share['opaque_std']:.3f} against "
        f"{share['logit_std']:.3f} for the logit.</p>"
    )


def _fusion_note(f: dict) -> str:
    return (
        f"<p>Fusion by {html.escape(f['mode'])}: each applicant's wide and deep logits are weighted (the paper "
        f"sums them, weights 1 and 1). On the test split the wide weight has mean {f['wide_gate']['mean']:.3f} "
        f"(5th–95th percentile {f['wide_gate']['p5']:.3f} to {f['wide_gate']['p95']:.3f}) and the deep weight "
        f"{f['deep_gate']['mean']:.3f} ({f['deep_gate']['p5']:.3f} to {f['deep_gate']['p95']:.3f}). The table's "
        f"points are the wide weights unscaled; the deep term above carries what the gates change, so the "
        f"points plus that term still give each applicant's score. Reason codes scale the wide contributions by "
        f"the average applicant's wide weight ({f['baseline_wide_gate']:.3f}) and credit the rest to the deep "
        f"inputs that set the weights.</p>"
    )


def _without_trees(card: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The scorecard without its GBDT trees (hundreds of trees, each leaf named by its path: all of them are in
    scorecard.csv), and the note that summarises them."""
    trees = card["type"] == "gbdt tree"
    if not trees.any():
        return card, ""
    leaf_points = card.loc[trees].groupby("characteristic")["points"].agg(lambda p: p.max() - p.min())
    note = (
        f"<p class='note'>{trees.groupby(card['characteristic']).any().sum():,} GBDT trees with "
        f"{int(trees.sum()):,} leaves are wide characteristics too (each leaf an attribute named by its path); "
        f"a tree's points span {leaf_points.median():.2f} points at the median and {leaf_points.max():.2f} at "
        f"most. They are listed in scorecard.csv, not here.</p>"
    )
    return card.loc[~trees], note


def _scorecard_table(card: pd.DataFrame) -> str:
    """Every characteristic's attributes; one with more than MAX_ATTRIBUTES_SHOWN (a city × industry cross, say)
    shows its extremes, all rows being in scorecard.csv."""
    body, shown, half = "", [], MAX_ATTRIBUTES_SHOWN // 2
    for name, group in card.groupby("characteristic", sort=False):
        if len(group) > MAX_ATTRIBUTES_SHOWN:
            ordered = group.sort_values("points", ascending=False, kind="stable")  # safest first, as scorecard.csv
            group = pd.concat([ordered.head(half), ordered.tail(half)])
            body += (
                f"<p class='note'>{html.escape(name)}: {len(ordered):,} attributes; the {half} "
                f"highest- and lowest-scoring are shown (safest first), all are in scorecard.csv.</p>"
            )
        shown.append(group)
    binning = [c for c in ("count", "bad_rate", "woe", "iv", "characteristic_iv") if c in card.columns]
    return body + _table(
        pd.concat(shown)[["characteristic", "attribute", "weight", "points", *binning]].to_dict(orient="records"),
        digits=3,
    )


def _fairness(r: ReportInputs) -> str:
    body = "".join(_fairness_entry(name, entry) for name, entry in r.evidence["fairness"].items())
    return body or "<p>No column is marked protected.</p>"


def _fairness_entry(name: str, entry: dict) -> str:
    body = (
        f"<h3>{html.escape(name)}</h3><p>In the model: <b>{_fmt(entry['in_model'])}</b>. Proxy test: the model's "
        f"inputs predict this attribute with AUC <b>{_fmt(entry['proxy_auc'])}</b> (0.5 = no proxy). "
        f"Reference group: {html.escape(entry['reference_group'])}; approval = predicted probability below "
        f"the threshold. Four-fifths rule (smallest adverse-impact ratio "
        f"{_fmt(entry.get('min_adverse_impact_ratio'))}): <b>{entry.get('four_fifths_rule', 'not computed')}</b>."
        f"</p>"
    )
    if entry.get("too_small_groups"):
        body += (
            f"<p class='note'>Too small to read (under {fairness.MIN_GROUP_ROWS} rows or under "
            f"{fairness.MIN_GROUP_CLASS} defaulters or non-defaulters): "
            f"{html.escape(', '.join(entry['too_small_groups']))}; their AUC and rates are noise.</p>"
        )
    groups = [{"group": g, **row} for g, row in entry["groups"].items()]
    comparisons = [c for c in fairness.GROUP_METRICS if c in fairness.REFERENCE_COMPARISONS]
    body += _table(groups, ["group", *(c for c in fairness.GROUP_METRICS if c not in comparisons)], digits=3)
    body += f"<p class='note'>Against the reference group ({html.escape(entry['reference_group'])}):</p>"
    return body + _table(groups, ["group", *comparisons], digits=3)


def _stability(r: ReportInputs) -> str:
    st = r.evidence["stability"]
    csi_rows = [
        {"feature": f, "csi": v["csi"], "flag": v["flag"]}
        for f, v in sorted(st["csi"].items(), key=lambda kv: -kv[1]["csi"])
    ]
    return (
        f"<p>Score PSI {_fmt(st['psi'])} (<span class='flag-{st['psi_flag']}'>{st['psi_flag']}</span>; "
        "watch above 0.1, act above 0.25).</p>" + _table(csi_rows)
    )


def _importance(r: ReportInputs) -> str:
    card = r.scorecard
    perm = r.evidence["importance"]["permutation_auc_drop"]
    spread = card[card["attribute_index"] >= 0].groupby("characteristic")["points"].agg(lambda s: s.max() - s.min())
    rows = [
        {"feature": f, "permutation_auc_drop": v, "wide_points_range": float(spread.get(f, np.nan))}
        for f, v in perm.items()
    ]
    return (
        "<p class='note'>Permutation importance: test AUC lost when the feature is shuffled (up to 5,000 "
        "rows). Wide points range: max − min scorecard points of the characteristic.</p>" + _table(rows)
    )


def _reasons(r: ReportInputs) -> str:
    rc = r.evidence["reason_codes"]
    examples = [
        {
            "row": e["row"],
            "probability": e["probability"],
            "reasons": "; ".join(f"{f} (+{c:.3f})" for f, c in e["reasons"]),
        }
        for e in rc["examples"]
    ]
    return (
        f"<p>Contributions to the logit add up to it: exactly for the wide branch, by integrated gradients for the "
        f"deep "
        f"branch (residual max {_fmt(rc['max_abs_residual'])}, mean {_fmt(rc['mean_abs_residual'], 6)} in logit units "
        f"on the test split). Intercept {_fmt(rc['intercept'])}.</p>"
        + _table([{"feature": f, "mean_abs_contribution": v} for f, v in rc["mean_abs_contribution"].items()])
        + "<p class='note'>The first test applicants' top reasons (features that raised the risk):</p>"
        + _table(examples)
    )


# the report's sections in order: (id, title, the function that writes its body); tests look for the ids
SECTION_WRITERS = (
    ("use", "Intended use and limitations", _use_and_limitations),
    ("label", "Label definition", _label),
    ("data", "Data summary", _data),
    ("metrics", "Metrics on the test split (95% bootstrap intervals)", _metrics),
    ("benchmark", "Benchmark against challengers (test split)", _benchmark),
    ("roc", "ROC curve", _roc),
    ("ks", "KS plot", _ks),
    ("gains", "Gains table (deciles of the predicted probability of default; decile 1 = riskiest)", _gains),
    ("strategy", "Strategy: cut-off and score bands (points)", _strategy),
    ("calibration", "Calibration", _calibration),
    ("scorecard", "Scorecard (wide branch)", _scorecard),
    ("fairness", "Fairness by protected attribute", _fairness),
    ("stability", "Stability (train → test)", _stability),
    ("importance", "Feature importance", _importance),
    ("reasons", "Reason codes", _reasons),
)
SECTIONS = tuple(key for key, _, _ in SECTION_WRITERS)


def render_report(model_dir: str | Path, n_bootstrap: int = 500) -> Path:
    """Write the run's report.html and return its path."""
    run = ModelDir(model_dir)
    run.require(*run.report_inputs())
    m, ev = run.read_metrics(), run.read_evidence()
    if m.get("model_fingerprint") != ev.get("model_fingerprint"):
        raise UserError(
            f"{run}: evidence.json describes another model than metrics.json (the run was continued "
            f"without --evidence); rerun training with the evidence before rendering the report"
        )
    scores = run.read_test_scores()
    inputs = ReportInputs(
        run,
        m,
        ev,
        run.load_config(),
        scores["label"].to_numpy(),
        scores["probability"].to_numpy(),
        run.read_scorecard(),
        n_bootstrap,
        {c.removeprefix("challenger_"): scores[c].to_numpy() for c in scores.columns if c.startswith("challenger_")},
    )
    sections = "".join(_section(key, title, write(inputs)) for key, title, write in SECTION_WRITERS)
    title = f"Model report: {m.get('dataset')} {m.get('model_type')}"
    contents = "".join(
        f"<li><a href='#{key}'>{name}</a></li>"
        for key, name in re.findall(r"<section id='([^']+)'><h2>(.*?)</h2>", sections)
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{_governance_header(run, m, inputs.config)}"
        f"<nav><h2>Contents</h2><ol>{contents}</ol></nav>{sections}</body></html>"
    )
    run.write_text(run.report.name, page)
    return run.report
