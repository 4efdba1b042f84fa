"""Batch and single-applicant scoring through the export: no train/serve skew, reasons, atomic output."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from feature_columns.errors import DataError
from feature_columns.inputs import prepare_frame
from tests.conftest import quiet
from wide_deep.data.dataset import read_labelled_file
from wide_deep.record.model_dir import ModelDir
from wide_deep.serving import scoring
from wide_deep.serving.scoring import ScoreOptions, Scorer, batch_probabilities, score_file


@pytest.fixture(scope="module")
def scored(sme_run, small_sme, tmp_path_factory):
    """Every small-SME application scored by `score_file` in 700-row batches, with 3 reasons; the raw
    transactions aggregated 1,000 applications at a time, so batches and blocks do not line up."""
    out = tmp_path_factory.mktemp("scored") / "scores.parquet"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scoring, "AGGREGATION_ROWS", 1000)
        result = score_file(sme_run, small_sme / "applications.parquet", out, ScoreOptions(700, reasons=3), log=quiet)
    return out, result


def test_batch_scores_equal_the_trained_model(sme_run, small_sme, scored):
    out, result = scored
    assert result["rows"] == 3000
    frame = pd.read_parquet(out)
    apps = pd.read_parquet(small_sme / "applications.parquet")
    assert frame["enterprise_id"].tolist() == apps["enterprise_id"].tolist()
    estimator = ModelDir(sme_run).load_estimator(log=quiet)
    rows, _ = read_labelled_file(estimator.spec, small_sme / "applications.parquet", log=quiet)
    np.testing.assert_allclose(batch_probabilities(out), estimator.predict(rows.arrays), atol=1e-5)
    threshold = ModelDir(sme_run).read_metrics()["threshold"]
    np.testing.assert_array_equal(frame["decision"], np.where(frame["probability"] >= threshold, "decline", "approve"))


def test_reasons_are_the_features_that_raised_the_risk(sme_run, scored):
    frame = pd.read_parquet(scored[0])
    assert {"reason_1", "reason_1_contribution", "reason_3", "reason_3_contribution"} <= set(frame.columns)
    assert "unseen_categories" in frame.columns  # with reasons as without
    coded = frame["reason_1"].fillna("") != ""
    assert coded.any() and frame.loc[coded, "reason_1_code"].str.match(r"R\d+").all()
    top = frame["reason_1_contribution"].to_numpy()
    assert (top >= 0).all() and (frame.loc[top > 0, "reason_1"] != "").all() and (top > 0).mean() > 0.5
    assert (frame["reason_1_contribution"] >= frame["reason_2_contribution"]).all()
    features = set(ModelDir(sme_run).read_evidence()["reason_codes"]["features"])
    assert set(frame["reason_1"].replace("", np.nan).dropna()) <= features


def test_one_applicant_from_raw_transactions_matches_the_batch_pipeline(sme_run, small_sme, scored):
    scorer = Scorer(sme_run)
    apps = pd.read_parquet(small_sme / "applications.parquet")
    log = pd.read_parquet(small_sme / "transactions")
    batch, _ = read_labelled_file(scorer.spec, small_sme / "applications.parquet", log=quiet)
    batch_scores = pd.read_parquet(scored[0])
    names = [c.name for c in scorer.spec.input_columns]
    for position in (0, 17, 1234, 2999):
        application = apps.iloc[position].to_dict()
        own_transactions = log[log[scorer.spec.id_column] == application[scorer.spec.id_column]]
        result = scorer.score_applicant(application, own_transactions)
        for name in names:  # the features the model saw in training, row by row
            trained_on = batch.arrays[name][position]
            served = result["features"][name]
            if isinstance(trained_on, str):
                assert str(served) == trained_on or (trained_on == "" and pd.isna(served)), name
            else:
                np.testing.assert_allclose(
                    np.float32(np.nan if served is None else served), trained_on, rtol=1e-6, err_msg=name
                )
        assert result["probability"] == pytest.approx(batch_scores["probability"].iloc[position], abs=1e-6)
        assert result["decision"] == batch_scores["decision"].iloc[position]
        assert result["unseen_categories"] == []


def test_applicant_without_transactions_needs_the_log(sme_run, small_sme):
    scorer = Scorer(sme_run)
    application = pd.read_parquet(small_sme / "applications.parquet").iloc[0].to_dict()
    with pytest.raises(DataError, match="no transactions were given"):
        scorer.score_applicant(application)
    empty_log = pd.read_parquet(small_sme / "transactions").iloc[:0]
    result = scorer.score_applicant(application, empty_log)  # an enterprise with no activity is still scored
    assert result["features"]["txn_count"] == 0 and 0 < result["probability"] < 1


def test_a_bad_input_leaves_no_output(sme_run, small_sme, tmp_path):
    apps = pd.read_parquet(small_sme / "applications.parquet")
    apps.drop(columns=["city"]).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=r"\['city'\]"):
        score_file(
            sme_run, tmp_path / "bad.csv", tmp_path / "out.csv", transactions=small_sme / "transactions", log=quiet
        )
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.csv"]  # no out.csv, no partial file


def test_prepared_rows_score_like_raw_ones(sme_run, small_sme):
    scorer = Scorer(sme_run)
    apps = pd.read_parquet(small_sme / "applications.parquet").head(50)
    frame = scorer.features(apps, small_sme / "transactions")
    np.testing.assert_array_equal(
        scorer.score_frame(frame)["probability"], scorer.score_arrays(prepare_frame(scorer.spec, frame))["probability"]
    )


def test_scores_are_in_the_scorecards_points(sme_run, small_sme):
    """Every output has `score`: the probability's log-odds in the scorecard's PDO points (the run's scaling)."""
    from wide_deep.evidence.scorecard import Scaling

    applications = pd.read_parquet(small_sme / "applications.parquet").head(50)
    scorer = Scorer(sme_run, log=quiet)
    table = scorer.score_table(applications, scorer.transactions_for(small_sme / "applications.parquet"))
    p = table["probability"].to_numpy(dtype="float64")
    scaling = Scaling(*ModelDir(sme_run).load_config().scorecard)
    np.testing.assert_allclose(table["score_exact"], scaling.score(np.log(p / (1 - p))), atol=1e-6)
    # whole points, as a scorecard prints them; the exact value beside
    assert table["score"].dtype == np.int64 and (table["score"] == np.rint(table["score_exact"])).all()
    assert list(table.columns)[:6] == ["enterprise_id", "probability", "score", "score_exact", "decision", "score_band"]
    assert set(table["decision"]) <= {"approve", "decline"}
    # each row's band is the strategy table's band that holds its score (the run's edges, in the export)
    from wide_deep.evidence.strategy import band_names

    edges = scorer.export.model_info["score_bands"]
    names = band_names(edges)
    bounds = [-np.inf, *edges, np.inf]
    for score, band in zip(table["score_exact"], table["score_band"]):
        k = names.index(band)
        assert bounds[k] <= score < bounds[k + 1]
    strategy = {row["band"] for row in ModelDir(sme_run).read_evidence()["strategy"]}
    assert strategy <= set(names)


def test_make_predict_can_replace_the_cutoff(sme_run, small_sme, tmp_path):
    from feature_columns.errors import UserError

    out = tmp_path / "scores.csv"
    score_file(sme_run, small_sme / "applications.parquet", out, ScoreOptions(cutoff="probability:0.5"), log=quiet)
    frame = pd.read_csv(out)
    np.testing.assert_array_equal(frame["decision"], np.where(frame["probability"] >= 0.5, "decline", "approve"))
    with pytest.raises(UserError, match="at scoring time"):
        score_file(
            sme_run,
            small_sme / "applications.parquet",
            tmp_path / "x.csv",
            ScoreOptions(cutoff="approval:0.5"),
            log=quiet,
        )


@pytest.fixture
def own_run(sme_run, small_sme, tmp_path):
    """A copy of the trained run and of the small SME data, so that a regression could only damage the copies."""
    import shutil

    shutil.copytree(sme_run, tmp_path / "run")
    shutil.copytree(small_sme, tmp_path / "data")
    return tmp_path / "run", tmp_path / "data"


def test_outputs_inside_a_run_an_export_or_the_log_folder_are_refused(own_run):
    """The scores must not replace a run's files (its test scores, its evidence), add a bogus export version, or
    land in the transaction log that scoring and training read: refused before any work, nothing written."""
    from feature_columns.errors import UserError
    from wide_deep.serving.monitoring import monitor

    run, data = own_run
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    newest = ModelDir(run).export_versions()[-1]
    for output, refused in [
        (run / "test_scores.parquet", "inside the run folder"),
        (run / "export" / "scores.csv", "inside the export"),
        (newest / "assets" / "scores.csv", "inside the export"),
        (run / "new_folder" / "scores.csv", "inside the run folder"),
        (data / "transactions" / "scores.parquet", "inside the input folder"),
    ]:
        with pytest.raises(UserError, match=refused):
            score_file(run, data / "applications.parquet", output, log=quiet)
    with pytest.raises(UserError, match="inside the run folder"):
        monitor(run, data / "applications.parquet", output=run / "evidence.json")
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before
    assert sorted(p.name for p in (data / "transactions").iterdir()) == sorted(
        p.name for p in (data / "transactions").glob("*.parquet") if p.name != "scores.parquet"
    )


def test_a_stray_file_in_the_log_folder_is_named(own_run):
    """A file that is not part of the transaction log (written there by hand) is named with what to do, not met
    as a DuckDB schema error halfway through the aggregation."""
    run, data = own_run
    pd.DataFrame({"enterprise_id": [1], "probability": [0.5]}).to_parquet(data / "transactions" / "scores.parquet")
    with pytest.raises(DataError, match=r"scores.parquet lacks the log's column\(s\).*move it out"):
        score_file(run, data / "applications.parquet", data / "out.csv", log=quiet)
    assert not (data / "out.csv").exists()
