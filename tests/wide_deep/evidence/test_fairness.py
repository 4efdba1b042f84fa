"""Fairness evidence on known inputs: group metrics by hand, numeric groups, the proxy test."""

from __future__ import annotations

import numpy as np
import pytest

from feature_columns import numeric_column
from feature_columns.kinds.base import Vocabulary
from feature_columns.kinds.numeric import NumericStats
from wide_deep.evidence import fairness


def test_group_metrics_by_hand():
    # group a (5 rows, the largest: the reference) and group b (4 rows); approval = score below 0.5
    labels = np.array([1, 0, 0, 1, 0, 0, 0, 1, 1])
    scores = np.array([0.9, 0.2, 0.6, 0.4, 0.1, 0.1, 0.3, 0.8, 0.7])
    groups = np.array(["a", "a", "a", "a", "a", "b", "b", "b", "b"])
    out = fairness.group_metrics(labels, scores, threshold=0.5, groups=groups)
    a, b = out["groups"]["a"], out["groups"]["b"]
    assert out["reference_group"] == "a" and list(out["groups"]) == ["a", "b"]
    assert a["approval_rate"] == pytest.approx(3 / 5) and b["approval_rate"] == pytest.approx(2 / 4)
    assert a["tpr"] == 0.5 and a["fpr"] == pytest.approx(1 / 3) and b["tpr"] == 1.0 and b["fpr"] == 0.0
    assert a["statistical_parity_difference"] == 0
    assert b["statistical_parity_difference"] == pytest.approx(2 / 4 - 3 / 5)
    # non-defaulters approved: a 2 of 3, b 2 of 2; defaulters approved: a 1 of 2, b 0 of 2
    assert b["equal_opportunity_difference"] == pytest.approx(1 - 2 / 3)
    assert b["average_odds_difference"] == pytest.approx(0.5 * ((1 - 2 / 3) + (0 - 1 / 2)))
    assert a["default_rate"] == pytest.approx(2 / 5) and b["count"] == 4
    # adverse-impact ratio: approval rate over the reference's (fairlearn's demographic_parity_ratio is the minimum)
    assert b["adverse_impact_ratio"] == pytest.approx((2 / 4) / (3 / 5)) and a["adverse_impact_ratio"] == 1
    assert out["min_adverse_impact_ratio"] == pytest.approx(5 / 6) and out["four_fifths_rule"] == "passes"
    assert out["too_small_groups"] == ["a", "b"] and a["too_small"]  # 5 and 4 rows: noise
    declined = fairness.group_metrics(labels, np.where(groups == "b", 0.9, scores), 0.5, groups)
    assert declined["groups"]["b"]["adverse_impact_ratio"] == 0 and declined["four_fifths_rule"] == "fails"


def test_large_groups_are_readable():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    out = fairness.group_metrics(labels, rng.random(400), 0.5, np.where(np.arange(400) < 380, "big", "tiny"))
    assert out["too_small_groups"] == ["tiny"] and not out["groups"]["big"]["too_small"]


def test_numeric_groups_and_proxy_auc():
    age = numeric_column("age")
    object.__setattr__(age, "group_boundaries", (25.0,))
    assert fairness.group_labels(age, np.array([20.0, 30.0, np.nan]), np.array([1.0])).tolist() == [
        "< 25",
        ">= 25",
        "(missing)",
    ]
    rng = np.random.default_rng(0)
    n = 4000
    sex = rng.choice(["f", "m"], n)
    from feature_columns.spec import FeatureSpec

    proxy = np.where(rng.random(n) < 0.9, sex, rng.choice(["f", "m"], n))  # a strong proxy of sex
    noise = rng.normal(size=n).astype("float32")
    spec = FeatureSpec.from_dict(
        {"label": "y", "columns": [{"name": "proxy", "type": "categorical"}, {"name": "noise", "type": "numeric"}]}
    )
    state = {"proxy": Vocabulary(("f", "m")), "noise": NumericStats(0.0, 0.0, 1.0)}
    arrays = {"proxy": proxy.astype(object), "noise": noise}
    half = {k: v[: n // 2] for k, v in arrays.items()}, {k: v[n // 2 :] for k, v in arrays.items()}
    strong = fairness.proxy_auc(spec, state, half[0], half[1], sex[: n // 2], sex[n // 2 :])
    assert strong > 0.85
    only_noise = FeatureSpec.from_dict({"label": "y", "columns": [{"name": "noise", "type": "numeric"}]})
    weak = fairness.proxy_auc(only_noise, state, half[0], half[1], sex[: n // 2], sex[n // 2 :])
    assert abs(weak - 0.5) < 0.06


def test_group_metrics_agree_with_fairlearn():
    """The same definitions as fairlearn (a dev dependency, used only here): per-group approval rate (its selection
    rate of the favourable outcome), TPR and FPR of the default prediction, the demographic-parity difference and
    ratio, and the equalized-odds difference, on two groups of unequal approval."""
    from fairlearn.metrics import (
        MetricFrame,
        demographic_parity_difference,
        demographic_parity_ratio,
        equalized_odds_difference,
        false_positive_rate,
        selection_rate,
        true_positive_rate,
    )

    rng = np.random.default_rng(3)
    n = 3000
    groups = np.where(rng.random(n) < 0.6, "m", "f")
    labels = rng.integers(0, 2, n)
    scores = np.clip(rng.random(n) * 0.8 + 0.3 * labels + np.where(groups == "f", 0.08, 0.0), 0, 1)
    threshold = 0.6
    ours = fairness.group_metrics(labels, scores, threshold, groups)
    decision, approved = (scores >= threshold).astype(int), (scores < threshold).astype(int)
    frame = MetricFrame(
        metrics={"tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=labels,
        y_pred=decision,
        sensitive_features=groups,
    )
    approval = MetricFrame(metrics=selection_rate, y_true=labels, y_pred=approved, sensitive_features=groups)
    for group in ("m", "f"):
        assert ours["groups"][group]["tpr"] == pytest.approx(frame.by_group.loc[group, "tpr"])
        assert ours["groups"][group]["fpr"] == pytest.approx(frame.by_group.loc[group, "fpr"])
        assert ours["groups"][group]["approval_rate"] == pytest.approx(approval.by_group.loc[group])
    f = ours["groups"]["f"]  # the smaller group, against the reference m
    assert abs(f["statistical_parity_difference"]) == pytest.approx(
        demographic_parity_difference(labels, approved, sensitive_features=groups)
    )
    assert ours["min_adverse_impact_ratio"] == pytest.approx(
        demographic_parity_ratio(labels, approved, sensitive_features=groups)
    )
    # approval among non-defaulters / defaulters differs by minus the FPR / TPR difference of the default prediction
    fpr_gap = f["equal_opportunity_difference"]
    tpr_gap = 2 * f["average_odds_difference"] - fpr_gap
    assert max(abs(fpr_gap), abs(tpr_gap)) == pytest.approx(
        equalized_odds_difference(labels, decision, sensitive_features=groups)
    )


def test_group_labels_say_what_the_codes_mean_when_the_spec_does():
    from feature_columns.spec import FeatureSpec

    spec = FeatureSpec.from_dict(
        {
            "label": {"column": "y", "positive": [1]},
            "columns": [
                {"name": "SEX", "type": "categorical", "protected": True, "meanings": {1: "male", 2: "female"}},
                {
                    "name": "MARRIAGE",
                    "type": "numeric",
                    "protected": True,
                    "group_boundaries": [2],
                    "meanings": {1: "married", 2: "single", 3: "others"},
                },
                {"name": "x", "type": "numeric"},
            ],
        }
    )
    sex, marriage = spec.column("SEX"), spec.column("MARRIAGE")
    assert fairness.group_labels(sex, np.array(["1", "2", "", "9"]), np.array([])).tolist() == [
        "1 (male)",
        "2 (female)",
        "(missing)",
        "9",
    ]
    assert fairness.group_labels(marriage, np.array([1.0, 3.0]), np.array([1.0])).tolist() == [
        "< 2 (1: married)",
        ">= 2 (2: single; 3: others)",
    ]
    assert FeatureSpec.from_dict(spec.to_dict()) == spec  # the meanings round-trip through the spec's YAML form
    from feature_columns import SpecError

    bad = {"label": {"column": "y", "positive": [1]}, "columns": [{"name": "s", "type": "categorical"}]}
    bad["columns"][0]["meanings"] = [1, 2]
    with pytest.raises(SpecError, match="column 's': meanings must map each code to what it means"):
        FeatureSpec.from_dict(bad)
