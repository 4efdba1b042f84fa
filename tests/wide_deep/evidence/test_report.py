"""`make report`: a self-contained HTML page with every section and real figures, from a model_dir alone."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from feature_columns.errors import UserError
from wide_deep.evidence.report import SECTIONS, render_report


class _Sections(HTMLParser):
    def __init__(self):
        super().__init__()
        self.sections, self.current, self.images = {}, None, 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.current = attrs["id"]
            self.sections[self.current] = ""
        if tag == "img" and attrs.get("src", "").startswith("data:image/png;base64,"):
            self.images += 1
        if tag in ("script", "link") or (tag == "img" and not attrs.get("src", "").startswith("data:")):
            raise AssertionError(f"report loads an external resource: <{tag} {attrs}>")

    def handle_data(self, data):
        if self.current:
            self.sections[self.current] += data


def test_report_has_every_section_with_numbers(sme_run):
    path = render_report(sme_run, n_bootstrap=100)
    assert path == sme_run / "report.html"
    parser = _Sections()
    parser.feed(path.read_text())
    assert list(parser.sections) == list(SECTIONS)
    for name, text in parser.sections.items():
        assert re.search(r"\d\.\d{2}", text), f"section {name} has no figures"
    assert parser.images >= 4  # ROC, KS, gains and calibration plots, embedded
    assert "gender" in parser.sections["fairness"] and "Proxy test" in parser.sections["fairness"]
    assert "excluded from the model" in parser.sections["data"]  # protected columns: the run's own setting
    assert "Four-fifths rule" in parser.sections["fairness"]
    page = path.read_text()
    header = page[page.index("<table class='header'>") : page.index("<nav>")]
    for item in ("export version", "trained", "code version", "spec", "data", "settings"):
        assert f"<th>{item}</th>" in header
    assert re.search(r"applications\.parquet: sha256 [0-9a-f]{64}", header)  # the data file the run read
    assert re.search(r"transactions: sha256 [0-9a-f]{64} \(\d+ files\)", header)
    assert [f"#{key}" for key in SECTIONS] == re.findall(r"<li><a href='(#[^']+)'>", page)  # the table of contents
    alts = re.findall(r"<img alt='([^']*)'", page)
    assert len(alts) >= 4 and all(len(alt) > 30 for alt in alts)  # each plot says what it shows
    assert "hosmer_lemeshow_p" not in parser.sections["metrics"] and "Hosmer–Lemeshow p-value" in page
    assert "calibration slope (1 ideal" in parser.sections["calibration"]
    assert "0.0000" not in parser.sections["metrics"].split("Hosmer–Lemeshow p-value")[1][:20]
    # every table is headed by labels, not evidence keys (the governance header's items are its own)
    headers = re.findall(r"<th>([^<]*)</th>", page[page.index("<nav>") :])
    assert headers and not [h for h in headers if "_" in h], [h for h in headers if "_" in h]
    assert "lowest probability" in headers and "adverse-impact ratio" in headers
    # the fairness figures in two tables that fit the page: the groups' rates, then each against the reference
    fairness_tables = re.findall(
        r"<table>(.*?)</table>", page[page.index("<section id='fairness'>") :].split("</section>")[0]
    )
    assert len(fairness_tables) == 2 and "statistical parity difference" in fairness_tables[1]
    # the strategy: the policy in points, and the score bands with the one holding the cut-off marked
    strategy = parser.sections["strategy"]
    assert re.search(r"decline at \d+\.\d points or below", strategy) and "among the approved" in strategy
    assert len(re.findall(r"\(cut-off \d+\.\d\)", strategy)) == 1
    assert (sme_run / "strategy.csv").exists()
    # words read from the left (the strategy's band names), numbers from the right
    assert re.search(r"<td class='words'>\d+ to \d+", page) and "<td class='words'>0." not in page
    # the settings block lists only what applied: no synthetic-generator or sharding settings for this file
    settings = re.search(r"<th>settings</th><td[^>]*>([^<]*)</td>", page).group(1)
    assert "split_seed=42" in settings and "num_enterprises" not in settings and "shuffle_window" not in settings
    # the model-risk file's first section, generated from the run
    use = parser.sections["use"]
    assert "Intended use." in use and "split seed 42" in use and "no out-of-time test" in use
    assert "left out of the model: gender" in use and "The data is synthetic" in use
    # the challengers fitted on the way, on the same test split, with the DeLong test against the model
    benchmark = parser.sections["benchmark"]
    assert "this model" in benchmark and "logistic regression" in benchmark and "LightGBM" in benchmark
    assert "DeLong p-value" in headers and "AUC difference" in headers


def test_the_benchmark_figures_are_the_challengers_own(sme_run):
    import numpy as np

    from wide_deep.evidence.metrics import auc
    from wide_deep.evidence.stats import delong_test
    from wide_deep.record.model_dir import ModelDir

    scores = ModelDir(sme_run).read_test_scores()
    assert {"challenger_logistic", "challenger_lightgbm"} <= set(scores.columns)
    y = scores["label"].to_numpy()
    for name in ("logistic", "lightgbm"):
        challenger = scores[f"challenger_{name}"].to_numpy()
        assert np.all((challenger > 0) & (challenger < 1)) and 0.6 < auc(y, challenger) < 0.9
        test = delong_test(y, scores["probability"].to_numpy(), challenger)
        assert test["auc_b"] == pytest.approx(auc(y, challenger), abs=1e-12)


def test_report_needs_a_trained_model_dir(tmp_path):
    with pytest.raises(UserError, match="lacks"):
        render_report(tmp_path)


@pytest.mark.parametrize(
    ("kept", "refit_rows", "says"),
    [
        (True, None, "cleared its rule and replaced the scorecard"),
        (False, 2400, "the model is that scorecard"),
        (None, None, None),
    ],
)
def test_the_data_section_says_what_the_network_rule_and_the_refit_decided(sme_run, tmp_path, kept, refit_rows, says):
    import json
    import shutil

    run = shutil.copytree(sme_run, tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "network_kept": kept, "refit_rows": refit_rows}))
    parser = _Sections()
    parser.feed(render_report(run, n_bootstrap=50).read_text())
    data = parser.sections["data"]
    assert (says in data) if says else ("trained network" not in data), data[:400]
    assert ("validation rows together (2,400 rows)" in data) == bool(refit_rows), data[:600]


def test_a_calibration_rejection_is_read_with_how_far_off_the_slope_is(sme_run, tmp_path):
    import json
    import shutil

    run = shutil.copytree(sme_run, tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    slope = {"calibration_slope": 0.912, "calibration_slope_low": 0.853, "calibration_slope_high": 0.971}
    metrics.update({"hosmer_lemeshow_p": 0.003, **slope, "calibration_in_the_large": -0.021})
    (run / "metrics.json").write_text(json.dumps(metrics))
    page = render_report(run, n_bootstrap=50).read_text()
    assert "Hosmer–Lemeshow p 0.0030; calibration slope 0.91, 95% CI 0.85–0.97, calibration-in-the-large -0.021" in page
