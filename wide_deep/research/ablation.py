"""The paper's Table 2 reproduced through the training path: six variants × seeds, baselines, oracle.

Every variant is trained by `wide_deep.run.training.train_and_evaluate` — the code
`experiments/train.py` runs — from a RunConfig that differs from the CLI's only in model
type, crosses, seed and model_dir; the data are loaded and the preprocessing fitted once and
shared. `ablation_study` is the whole study as `make ablation` runs it.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from feature_columns.errors import UserError
from wide_deep.data.sources import write_atomically, write_frame
from wide_deep.data.training_input import require_in_memory
from wide_deep.evidence import metrics, stats
from wide_deep.evidence.plots import pyplot
from wide_deep.record.config import RunConfig, with_preset
from wide_deep.research.baselines import catboost_baseline, ebm_baseline, lightgbm_baseline, logistic_baseline
from wide_deep.run.prepared import PreparedData, prepare_data
from wide_deep.run.training import train_and_evaluate

VARIANTS = (  # (row name, model_type, use_crosses), in the paper's order
    ("Logistic Regression", "wide", False),
    ("DNN", "deep", False),
    ("Wide & Deep", "wide_deep", False),
    ("Logistic Regression + Cross", "wide", True),
    ("DNN + Cross", "deep", True),
    ("Wide & Deep + Cross", "wide_deep", True),
)
REFERENCE = "Wide & Deep + Cross"
# beyond the paper: the accurate preset's model (make train's default) and what each of its parts does, by the
# settings that differ from the preset (the ensemble: one run whose members have the seeds of the other rows,
# --ensemble_seeds=<seeds>, at least 2)
ACCURATE = "Accurate preset (make train: full scorecard, pairs, GA2M terms where they pay)"
ENSEMBLE = "Accurate, one model averaging the seeds' (--ensemble_seeds)"
NO_GBDT = "Accurate, no GBDT (--nowide_gbdt)"
BEYOND = (  # (name, model settings over the accurate preset's)
    (ACCURATE, {}),
    (NO_GBDT, {"wide_gbdt": False}),
    ("Accurate, network always kept (--min_network_gain_se=0)", {"min_network_gain_se": 0.0}),
    ("Accurate, scorecard not refitted on validation rows (--norefit_scorecard)", {"refit_scorecard": False}),
    (
        "Accurate, terms always kept (--min_tree_gain=0)",
        {"min_tree_gain": 0.0},
    ),
    (
        "Accurate, free trees where they pay (--gbdt_terms=free --min_tree_gain=0.005)",
        {"gbdt_terms": "free", "min_tree_gain": 0.005},
    ),
    (
        "Accurate, free trees always kept (--gbdt_terms=free --min_tree_gain=0 --min_readable_share=0)",
        {"gbdt_terms": "free", "min_tree_gain": 0.0, "min_readable_share": 0.0},
    ),
    ("Accurate, no readability floor (--min_readable_share=0)", {"min_readable_share": 0.0}),
    ("Accurate, no proposed pairs (--pairs=0)", {"pairs": 0}),
    ("Accurate, PLE numeric embeddings (--numeric_encoding=ple)", {"numeric_encoding": "ple"}),
    (
        "Previous default: declared scorecard, trees always (--scorecard=declared --pairs=0 ...)",
        {"scorecard": "declared", "pairs": 0, "gbdt_terms": "free", "min_tree_gain": 0.0, "min_readable_share": 0.0},
    ),
    (ENSEMBLE, {"ensemble": True}),
)
QUICK_BEYOND = (ACCURATE, NO_GBDT, ENSEMBLE)  # a quick (test) study's rows beyond the paper
# beyond the paper (its future work): the accurate model with the spec's sequences through a tower, and fused by a
# gate or attention; compared with the accurate model (the aggregates only). (name, sequences, tower, fusion)
SEQUENCE_VARIANTS = (
    ("Accurate + sequence (GRU) beside the aggregates", "both", "gru", "sum"),
    ("Accurate + sequence (TCN) beside the aggregates", "both", "tcn", "sum"),
    ("Accurate, sequence (GRU) in place of the deep aggregates", "sequence", "gru", "sum"),
    ("Accurate, gate fusion", "aggregates", "gru", "gate"),
    ("Accurate, attention fusion", "aggregates", "gru", "attention"),
    ("Accurate + sequence (GRU), gate fusion", "both", "gru", "gate"),
)
ROWS = ("all", "paper", "sequences")  # which rows a study runs: everything, the paper's and beyond, the sequence rows
LIGHTGBM = "LightGBM (tuned)"
BASELINES = (  # what a credit modeller would pick instead (wide_deep.research.baselines)
    (LIGHTGBM, lightgbm_baseline),
    ("CatBoost (defaults)", catboost_baseline),
    ("Explainable Boosting Machine (defaults)", ebm_baseline),
    ("scikit-learn LR (wide + cross features)", logistic_baseline),
)
ORACLE = "Oracle (true probability)"
PAPER_TABLE_2 = {  # test-set AUC, precision, recall, F1 as printed in the paper (None: illegible)
    "Logistic Regression": (0.6509, 0.6526, 0.6849, 0.6203),
    "DNN": (0.6529, 0.6561, 0.6871, 0.6337),
    "Wide & Deep": (0.6616, 0.6679, 0.6933, 0.6377),
    "Logistic Regression + Cross": (None, 0.6507, 0.6841, 0.6196),
    "DNN + Cross": (0.6607, 0.6638, 0.6911, 0.6495),
    "Wide & Deep + Cross": (None, 0.669, 0.695, 0.653),
}
ROW_METRICS = (
    "auc",
    *metrics.THRESHOLD_METRICS,
    "ks",
    "gini",
    "brier",
    "log_loss",
    "threshold",
    "readable_share",
    "train_seconds",
    "train_examples_per_sec",
    "serve_ms",
)


def _row(name, seed, test_y, valid_y, scores, extra) -> dict:
    threshold = metrics.f1_threshold(valid_y, scores["valid"])
    result = metrics.evaluate(test_y, scores["test"], threshold)
    return {
        "model": name,
        "seed": seed,
        "serve_ms": np.nan,
        **{k: result[k] for k in ROW_METRICS if k in result},
        **extra,
    }


def single_row_latency_ms(model_dir: str, data: PreparedData, repeats: int = 200) -> float:
    """Median milliseconds to score one raw test row in process (preprocessing and model in one traced call):
    the trained run reopened as `make predict` and the export see it."""
    import tensorflow as tf

    from feature_columns.inputs import to_tensors
    from wide_deep.record.model_dir import ModelDir

    estimator = ModelDir(model_dir).load_estimator(log=lambda *_: None)
    model = estimator.serving_model()
    names = [c.name for c in estimator.spec.input_columns]
    row = to_tensors({name: data.splits["test"].arrays[name][:1] for name in names})
    call = tf.function(lambda features: model(features, training=False))
    call(row)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(row)["probability"].numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


@dataclasses.dataclass(frozen=True)
class AblationPlan:
    """What `make ablation` runs: `seeds` seeds per trained row, which `rows` (one of ROWS), the baselines or not, a
    `quick` smoke run (tests: at most 2 seeds, 3 epochs, 3,000/1,000/1,000 rows, 200 bootstrap resamples, of the rows
    beyond the paper QUICK_BEYOND only),
    `resamples` of the bootstrap, the folders of the runs and of the results, the command named in ablation.md."""

    seeds: int = 5
    runs_dir: Path | None = None
    results_dir: Path | None = None
    resamples: int = 1000
    baselines: bool = True
    quick: bool = False
    command: str = "make ablation"
    rows: str = "all"


def ablation_variants(
    base: RunConfig, data: PreparedData, plan: AblationPlan, log=print
) -> list[tuple[str, RunConfig]]:
    """(row name, its config) for every trained row the plan selects: the paper's six, the rows beyond it, the
    sequence rows (when the spec declares sequences)."""
    limits = {"epochs": base.train.epochs, "min_steps": 0} if plan.quick else {}  # a smoke run stays short
    variants = []
    if plan.rows != "sequences":
        variants += [
            (
                name,
                dataclasses.replace(  # the paper's models: its aggregates, no sequences
                    base,
                    use_crosses=crosses,
                    model=dataclasses.replace(base.model, model_type=model_type, sequences="aggregates"),
                ),
            )
            for name, model_type, crosses in VARIANTS
        ]
    for name, settings in BEYOND:
        if plan.rows == "sequences" and name != ACCURATE:
            continue
        if plan.quick and name not in QUICK_BEYOND:
            continue
        settings = dict(settings)
        members = max(plan.seeds, 2) if settings.pop("ensemble", False) else 1
        accurate = with_preset(base, "accurate", **limits)
        model = dataclasses.replace(
            accurate.model, model_type="wide_deep", ensemble_seeds=members, sequences="aggregates", fusion="sum"
        )
        model = dataclasses.replace(model, **settings)
        variants.append((name, dataclasses.replace(accurate, use_crosses=True, model=model)))
    if plan.rows != "paper" and data.spec.sequences:
        for name, sequences, tower, fusion in SEQUENCE_VARIANTS:
            accurate = with_preset(base, "accurate", **limits)
            model = dataclasses.replace(
                accurate.model, model_type="wide_deep", sequences=sequences, sequence_tower=tower, fusion=fusion
            )
            variants.append((name, dataclasses.replace(accurate, use_crosses=True, model=model)))
    elif plan.rows != "paper":
        log(f"the spec '{data.spec.name}' declares no sequences: no sequence rows")
    return variants


def run_ablation(
    base: RunConfig, data: PreparedData, plan: AblationPlan, runs_dir: Path, log=print
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Rows of ablation.csv and, per model, test scores of shape (n_test, n_seeds)."""
    data.training.require_held("the ablation")
    runs_dir = Path(runs_dir)
    if runs_dir.exists():
        shutil.rmtree(runs_dir)  # fresh runs: a resumed run would report no training time
    rows, scores = [], {}
    for index, (name, variant) in enumerate(ablation_variants(base, data, plan, log)):
        per_seed = []
        members = variant.model.ensemble_seeds
        for seed in range(base.train.seed, base.train.seed + (plan.seeds if members == 1 else 1)):
            config = dataclasses.replace(
                variant,
                model_dir=str(runs_dir / f"variant{index}" / f"seed{seed}"),
                export=False,
                train=dataclasses.replace(variant.train, seed=seed),
            )
            log(f"--- {name}, seed {seed}")
            row, test_scores = _trained_row(name, config, data, latency=seed == base.train.seed and members == 1)
            rows.append(row)
            per_seed.append(test_scores)
            log(
                f"    test AUC {row['auc']:.4f}  F1 {row['f1']:.4f}  {row['train_seconds']:.0f} s, "
                f"{row['epochs_trained']} epochs"
            )
        scores[name] = np.column_stack(per_seed)
    if plan.baselines:
        for row, test_scores in _baseline_rows(base, data, log):
            rows.append(row)
            scores[row["model"]] = test_scores[:, None]
    oracle_test, oracle_valid = data.splits["test"].oracle, data.splits["valid"].oracle
    if oracle_test is not None:
        valid_y, test_y = data.splits["valid"].labels, data.splits["test"].labels
        scores_of = {"valid": oracle_valid, "test": oracle_test}
        rows.append(
            _row(ORACLE, None, test_y, valid_y, scores_of, {"train_seconds": np.nan, "train_examples_per_sec": np.nan})
        )
        scores[ORACLE] = oracle_test[:, None]
    return pd.DataFrame(rows), scores


def _trained_row(name: str, config: RunConfig, data: PreparedData, latency: bool) -> tuple[dict, np.ndarray]:
    """One trained row of ablation.csv (with the single-row latency when `latency`) and its test scores."""
    result = train_and_evaluate(config, data, log=lambda *_: None, keep_scores=True, with_evidence=False)
    facts = {
        "train_seconds": result["train_seconds"],
        "train_examples_per_sec": result["train_examples_per_sec"],
        "epochs_trained": result["epochs_trained"],
        "readable_share": result["readable_share"],
    }
    row = _row(
        name, config.train.seed, data.splits["test"].labels, data.splits["valid"].labels, result["scores"], facts
    )
    if latency:  # one single-row latency per variant
        row["serve_ms"] = single_row_latency_ms(config.model_dir, data)
    return row, result["scores"]["test"]


def _baseline_rows(base: RunConfig, data: PreparedData, log=print):
    """(row, test scores) of the tuned LightGBM and the scikit-learn logistic regression."""
    valid_y, test_y = data.splits["valid"].labels, data.splits["test"].labels
    for name, fn in BASELINES:
        start = time.perf_counter()
        out = fn(data, base.train.seed, log=log, include_protected=base.include_protected)
        facts = {
            "train_seconds": out["train_seconds"],
            "params": str(out["params"]),
            "train_examples_per_sec": np.nan,
            "readable_share": out["readable_share"],
        }
        row = _row(name, base.train.seed, test_y, valid_y, out, facts)
        log(f"    {name}: test AUC {row['auc']:.4f} ({time.perf_counter() - start:.0f} s)")
        yield row, out["test"]


def summarize(
    rows: pd.DataFrame, scores: dict[str, np.ndarray], test_y: np.ndarray, resamples: int, seed: int = 0
) -> pd.DataFrame:
    """Mean ± std over seeds, a bootstrap 95% CI of the seed-mean test AUC, DeLong p vs the reference and vs the
    tuned LightGBM."""
    reference, lightgbm = scores.get(REFERENCE), scores.get(LIGHTGBM)
    out = []
    for name in dict.fromkeys(rows["model"]):
        group = rows[rows["model"] == name]
        entry = {"model": name, "seeds": int(group["seed"].notna().sum()) or 1}
        for key in ROW_METRICS:
            entry[f"{key}_mean"] = float(group[key].mean())
            entry[f"{key}_std"] = float(group[key].std(ddof=1)) if len(group) > 1 else np.nan
        entry["auc_ci_low"], entry["auc_ci_high"] = stats.bootstrap_auc_ci(test_y, scores[name], resamples, seed=seed)
        if reference is not None and name != REFERENCE:
            test = stats.delong_test(test_y, reference.mean(axis=1), scores[name].mean(axis=1))
            entry["delong_p_vs_reference"] = test["p_value"]
        else:
            entry["delong_p_vs_reference"] = np.nan
        entry["delong_p_vs_accurate"] = np.nan
        if name in {v[0] for v in SEQUENCE_VARIANTS} and ACCURATE in scores:
            entry["delong_p_vs_accurate"] = stats.delong_test(
                test_y, scores[ACCURATE].mean(axis=1), scores[name].mean(axis=1)
            )["p_value"]
        entry["delong_p_vs_lightgbm"] = np.nan
        if lightgbm is not None and name != LIGHTGBM:
            entry["delong_p_vs_lightgbm"] = stats.delong_test(test_y, lightgbm.mean(axis=1), scores[name].mean(axis=1))[
                "p_value"
            ]
        out.append(entry)
    return pd.DataFrame(out)


def _pm(mean, std, digits=4):
    return f"{mean:.{digits}f}" if np.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _p(value) -> str:
    return "–" if np.isnan(value) else f"{value:.3g}"


def markdown_table(summary: pd.DataFrame, dataset: str, command: str, seconds: float) -> str:
    """The summary as Markdown; the paper's own figures are shown beside the SME rows only (its data)."""
    paper_columns = dataset == "sme" and summary["model"].isin(list(PAPER_TABLE_2)).any()
    versus_accurate = summary["delong_p_vs_accurate"].notna().any()
    lines = [
        f"# Ablation on `{dataset}` (test split)",
        "",
        f"Made by `{command}` in {seconds / 60:.1f} minutes on a {os.cpu_count()}-core machine. "
        "Mean ± std over seeds; 95% CI: stratified bootstrap of the seed-mean AUC over test rows; "
        f"DeLong p: two-sided test of the seed-averaged probabilities against {REFERENCE}, and against "
        f"{LIGHTGBM}"
        + (
            f", and (sequence and fusion rows) against {ACCURATE}, the same model without them"
            if versus_accurate
            else ""
        )
        + ". The paper's six variants use its Table 1 settings (`--preset=paper`); the "
        "accurate rows use `make train`'s defaults. Precision, recall and F1 are for the default class at the "
        "threshold that maximises F1 on validation; F1 (w) is support-weighted over both classes. ex/s: training "
        "examples per second (steady-state median, batch 256); serve ms: median time to score one raw row in "
        "process (first seed). Readable share: the R² of the logit carried by readable characteristics (one feature "
        "or a named pair) on the test split; 1 for a scorecard and an EBM, 0 for tree ensembles.",
        "",
        "| Model | AUC | 95% CI | DeLong p | DeLong p vs LightGBM |"
        + (" DeLong p vs accurate |" if versus_accurate else "")
        + " Readable share | Precision | Recall | F1 | F1 (w) | KS | Gini | Brier | Log loss | Train s | ex/s |"
        + " serve ms |"
        + (" Paper AUC | Paper P | Paper R | Paper F1 |" if paper_columns else ""),
        "|---" * (17 + versus_accurate + 4 * paper_columns) + "|",
    ]
    for _, r in summary.iterrows():
        cells = [
            r["model"],
            _pm(r["auc_mean"], r["auc_std"]),
            f"{r['auc_ci_low']:.4f}–{r['auc_ci_high']:.4f}",
            _p(r["delong_p_vs_reference"]),
            _p(r["delong_p_vs_lightgbm"]),
        ]
        cells += [_p(r["delong_p_vs_accurate"])] if versus_accurate else []
        cells += ["–" if np.isnan(r["readable_share_mean"]) else f"{r['readable_share_mean']:.2f}"]
        cells += [
            _pm(r[f"{k}_mean"], r[f"{k}_std"], 3) for k in ("precision", "recall", "f1", "f1_weighted", "ks", "gini")
        ]
        cells += [
            _pm(r["brier_mean"], r["brier_std"]),
            _pm(r["log_loss_mean"], r["log_loss_std"]),
            "–" if np.isnan(r["train_seconds_mean"]) else f"{r['train_seconds_mean']:.0f}",
            "–" if np.isnan(r["train_examples_per_sec_mean"]) else f"{r['train_examples_per_sec_mean']:,.0f}",
            "–" if np.isnan(r["serve_ms_mean"]) else f"{r['serve_ms_mean']:.2f}",
        ]
        if paper_columns:
            cells += ["–" if v is None else f"{v:.4f}" for v in PAPER_TABLE_2.get(r["model"], (None,) * 4)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


LEGEND_WIDTH = 40  # characters per legend line: the long model names wrap instead of covering the plot


def curve_models(mean_auc: dict[str, float]) -> list[str]:
    """The few models whose ROC and reliability curves are drawn (a dozen curves a few thousandths of AUC apart
    cannot be told apart): the weakest, the paper's reference, the strongest trained model, LightGBM and the
    oracle, where present."""
    trained = [n for n in mean_auc if n != ORACLE]
    candidates = [
        min(trained, key=mean_auc.get, default=None),
        REFERENCE,
        max(trained, key=mean_auc.get, default=None),
        LIGHTGBM,
        ORACLE,
    ]
    return [n for n in dict.fromkeys(candidates) if n in mean_auc]


def plot_roc_and_calibration(scores: dict[str, np.ndarray], test_y: np.ndarray, out_dir: Path, dataset: str) -> None:
    from sklearn.metrics import roc_curve

    plt = pyplot()
    # left: what the table reports, each model's test AUC (mean ± std over seeds), so the differences can be read;
    # right: the ROC curves of a few of them, labelled with the same figures
    per_seed = {name: [metrics.auc(test_y, s[:, k]) for k in range(s.shape[1])] for name, s in scores.items()}
    mean_auc = {name: float(np.mean(v)) for name, v in per_seed.items()}
    ordered = sorted(per_seed, key=mean_auc.get)
    fig, (dots, ax) = plt.subplots(
        1, 2, figsize=(15, 6.5), gridspec_kw={"width_ratios": [1.2, 1]}, layout="constrained"
    )
    dots.errorbar(
        [mean_auc[n] for n in ordered],
        range(len(ordered)),
        xerr=[np.std(per_seed[n]) for n in ordered],
        fmt="o",
        capsize=3,
    )
    for y, name in enumerate(ordered):
        dots.annotate(
            f"{mean_auc[name]:.4f}",
            (mean_auc[name], y),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=7,
        )
    dots.set_yticks(range(len(ordered)), ordered, fontsize=8)
    dots.set(xlabel="test AUC, mean ± std over seeds (the table's AUC column)", title=f"Test AUC by model, {dataset}")
    dots.grid(axis="x", alpha=0.3)
    shown = curve_models(mean_auc)
    for name in shown:
        fpr, tpr, _ = roc_curve(test_y, scores[name].mean(axis=1))
        ax.plot(fpr, tpr, lw=1.4, label=textwrap.fill(f"{name} ({mean_auc[name]:.4f})", LEGEND_WIDTH))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(
        xlabel="false positive rate",
        ylabel="true positive rate",
        title=f"ROC of {len(shown)} of the {len(ordered)} models\n(each the curve of its seed-averaged score)",
    )
    ax.legend(fontsize=8, loc="lower right", title="model (mean test AUC)", title_fontsize=8)
    fig.savefig(out_dir / "roc.png", dpi=110)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for name in shown:
        table = metrics.reliability_table(test_y, scores[name].mean(axis=1))
        label = textwrap.fill(name, LEGEND_WIDTH)
        ax.plot(
            [r["mean_predicted"] for r in table], [r["observed_rate"] for r in table], "o-", ms=3, lw=1, label=label
        )
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(
        xlabel="mean predicted probability (decile)",
        ylabel="observed default rate",
        title=f"Reliability of {len(shown)} of the {len(ordered)} models, {dataset} test split",
    )
    ax.legend(fontsize=8, loc="lower right")  # below the diagonal's far end: no points there
    fig.tight_layout()
    fig.savefig(out_dir / "calibration.png", dpi=110)
    plt.close(fig)


def ablation_study(base: RunConfig, plan: AblationPlan, log=print) -> Path:
    """The whole study as `make ablation` runs it: prepare the data once, train every variant and
    baseline, write ablation.csv, ablation_summary.csv, ablation.md, roc.png and calibration.png.
    Returns the results folder."""
    start = time.perf_counter()
    require_in_memory(base, "the ablation")
    if plan.quick:
        plan = dataclasses.replace(plan, seeds=min(plan.seeds, 2), resamples=min(plan.resamples, 200))
        base = dataclasses.replace(base, train=dataclasses.replace(base.train, epochs=min(base.train.epochs, 3)))
    # the data keep the spec's sequences (each row's model is routed with or without them)
    data = prepare_data(
        dataclasses.replace(base, model=dataclasses.replace(base.model, sequences="auto", ensemble_seeds=1)), log=log
    )
    if plan.quick:
        data = data.limited(base.split_seed, train=3000, valid=1000, test=1000)
    name = data.info.name
    results = results_folder(plan.results_dir, name, plan.rows)
    table, scores = run_ablation(base, data, plan, Path(plan.runs_dir or f"runs/ablation/{name}"), log=log)
    test_y = data.splits["test"].labels
    summary = summarize(table, scores, test_y, plan.resamples, seed=base.train.seed)
    write_frame(table, results / "ablation.csv")
    write_frame(summary, results / "ablation_summary.csv")
    write_atomically(results / "ablation.md", markdown_table(summary, name, plan.command, time.perf_counter() - start))
    write_scores(scores_path(plan.runs_dir, name, plan.rows), scores, test_y)
    plot_roc_and_calibration(scores, test_y, results, name)
    return results


def results_folder(results_dir: Path | None, dataset: str, rows: str) -> Path:
    """results/<dataset>/ (the sequence rows alone: results/<dataset>/sequences/), created."""
    results = Path(results_dir or (f"results/{dataset}" + ("/sequences" if rows == "sequences" else "")))
    results.mkdir(parents=True, exist_ok=True)
    return results


def scores_path(runs_dir: Path | None, dataset: str, rows: str) -> Path:
    """Where a study keeps its models' test scores (beside its runs, git-ignored), for `replot`."""
    return Path(runs_dir or f"runs/ablation/{dataset}") / f"test_scores_{rows}.npz"


def write_scores(path: Path, scores: dict[str, np.ndarray], test_y: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.partial.npz")
    arrays = {f"score_{i}": s for i, s in enumerate(scores.values())}
    np.savez_compressed(partial, test_y=test_y, names=np.array(list(scores), dtype=str), **arrays)
    partial.replace(path)


def replot(runs_dir: Path | None, results_dir: Path | None, dataset: str, rows: str) -> Path:
    """Redraw roc.png and calibration.png from the scores the last study saved, without training anything."""
    path = scores_path(runs_dir, dataset, rows)
    if not path.exists():
        raise UserError(f"{path} does not exist: run `make ablation` (with the same --rows) first")
    with np.load(path) as saved:
        scores = {str(n): saved[f"score_{i}"] for i, n in enumerate(saved["names"])}
        test_y = saved["test_y"]
    results = results_folder(results_dir, dataset, rows)
    plot_roc_and_calibration(scores, test_y, results, dataset)
    return results
