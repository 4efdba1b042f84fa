"""The cut-off policy in points and the score-band strategy table."""

import numpy as np
import pytest

from wide_deep.evidence.scorecard import Scaling
from wide_deep.evidence.strategy import band_edges, band_index, band_names, cutoff_policy, strategy_table


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    probabilities = rng.beta(2, 8, size=5000)
    labels = (rng.random(5000) < probabilities).astype(int)
    return labels, probabilities


def test_points_fall_as_risk_rises_and_match_the_scaling():
    scaling = Scaling(600.0, 50.0, 20.0)
    # odds 50:1 (p = 1/51) is the base score; doubling the odds adds the points to double them
    assert scaling.points(np.array([1 / 51]))[0] == pytest.approx(600.0)
    assert scaling.points(np.array([1 / 101]))[0] == pytest.approx(620.0)
    assert np.all(np.diff(scaling.points(np.linspace(0.01, 0.99, 50))) < 0)
    assert np.all(np.isfinite(scaling.points(np.array([0.0, 1.0]))))


def test_cutoff_policy_counts_what_the_cutoff_decides(scored):
    labels, probabilities = scored
    policy = cutoff_policy("approval:0.8", 0.3, Scaling(), labels, probabilities)
    approved = probabilities < 0.3
    assert policy["kind"] == "approval" and policy["value"] == 0.8
    assert policy["approved"] + policy["declined"] == len(labels)
    assert policy["approval_rate"] == pytest.approx(approved.mean())
    assert policy["approved_bad_rate"] == pytest.approx(labels[approved].mean())
    assert policy["declined_bad_rate"] == pytest.approx(labels[~approved].mean())
    assert policy["points"] == pytest.approx(Scaling().points(np.array([0.3]))[0])
    assert f"{policy['points']:.1f} points" in policy["policy"]


def test_a_cutoff_that_declines_everyone_has_no_approved_bad_rate(scored):
    labels, probabilities = scored
    policy = cutoff_policy("probability:1e-9", 1e-9, Scaling(), labels, probabilities)
    assert policy["approved"] == 0 and policy["approved_bad_rate"] is None


def test_bands_are_multiples_of_the_points_to_double_the_odds(scored):
    _, probabilities = scored
    scaling = Scaling(600.0, 50.0, 20.0)
    edges = np.asarray(band_edges(scaling.points(probabilities), scaling))
    assert np.allclose((edges - 600.0) % 20.0, 0.0)
    assert len(edges) - 1 <= 20


def test_strategy_table_adds_up_and_is_cumulative_from_the_safest_band(scored):
    labels, probabilities = scored
    scaling = Scaling()
    rows = strategy_table(labels, probabilities, scaling)
    assert sum(r["count"] for r in rows) == len(labels)
    assert sum(r["bads"] for r in rows) == labels.sum()
    assert rows[0]["band"].endswith("and above") and rows[-1]["band"].startswith("below")
    approval = [r["approval_rate"] for r in rows]
    assert np.all(np.diff(approval) > 0) and approval[-1] == pytest.approx(1.0)
    assert rows[-1]["bads_declined"] == pytest.approx(0.0)
    # riskier bands default more often (the scores rank well on this data)
    assert rows[0]["bad_rate"] < rows[len(rows) // 2]["bad_rate"] < rows[-1]["bad_rate"]
    points = scaling.points(probabilities)
    for row in rows[1:-1]:
        inside = (points >= row["min_points"]) & (points < row["max_points"])
        assert row["count"] == inside.sum()
        assert row["approved_bad_rate"] == pytest.approx(labels[points >= row["min_points"]].mean())


def test_strategy_table_of_nothing_is_empty():
    assert strategy_table(np.array([]), np.array([]), Scaling()) == []


def test_each_score_falls_in_the_band_the_table_names(scored):
    labels, probabilities = scored
    scaling = Scaling()
    points = scaling.points(probabilities)
    edges = band_edges(points, scaling)
    names = np.asarray(band_names(edges))[band_index(points, edges)]
    rows = strategy_table(labels, probabilities, scaling, edges)
    assert {r["band"]: r["count"] for r in rows} == dict(zip(*np.unique(names, return_counts=True)))
    assert band_names([500.0, 520.0]) == ["below 500", "500 to 520", "520 and above"]
    assert list(
        np.asarray(band_names([500.0, 520.0]))[band_index(np.array([499.9, 500.0, 520.0]), [500.0, 520.0])]
    ) == [
        "below 500",
        "500 to 520",
        "520 and above",
    ]
