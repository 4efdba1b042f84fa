"""The scorecard reproduces a wide-only model exactly, with PDO scaling and readable attributes."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import toy_estimator, train_toy
from wide_deep.evidence.scorecard import (
    Scaling,
    build_scorecard,
    score_from_table,
    scorecard_markdown,
)


def test_scorecard_reproduces_a_wide_only_model_exactly(toy_spec, toy_frame, tmp_path):
    estimator, arrays, labels = toy_estimator(
        toy_spec, toy_frame, tmp_path, "wide", learning_rate=3e-2, epochs=4, early_stopping_patience=0
    )
    train_toy(estimator, arrays, labels)
    scaling = Scaling(base_score=600, base_odds=50, pdo=20)
    table, summary = build_scorecard(estimator, scaling)
    assert not summary["has_deep_term"]
    encoded = estimator.encode(arrays)
    logit = estimator.logits_encoded(encoded).astype("float64")
    from_table = score_from_table(
        table,
        summary,
        encoded["wide_ids"].numpy(),
        encoded["wide_dense"].numpy() if "wide_dense" in encoded else None,
        estimator.layout.wide_segments,
    )
    np.testing.assert_allclose(from_table, scaling.score(logit), atol=1e-3)  # points are float64 of f32 weights
    attributes = table[table["attribute_index"] >= 0]
    assert (attributes["points"] >= -1e-9).all()
    assert attributes.groupby("characteristic")["points"].min().abs().max() < 1e-9  # the riskiest attribute gets 0
    assert set(table.loc[table["attribute_index"] < 0, "characteristic"]) == {"amount"}  # numeric: points per unit
    # doubling the odds adds PDO points; a higher score means lower risk
    assert scaling.score(np.log(1 / 50)) == pytest.approx(600) and scaling.score(np.log(1 / 100)) == pytest.approx(620)
    assert np.corrcoef(from_table, logit)[0, 1] < -0.999
    text = scorecard_markdown(table, summary)
    assert "higher score means lower risk" in text and "## city_x_tier" in text


def test_binning_statistics_by_hand():
    """count, bad count, bad rate, WoE = ln(share of goods / share of bads), IV; zero counts adjusted by 0.5."""
    from types import SimpleNamespace

    import pandas as pd

    from wide_deep.evidence.scorecard import add_binning_statistics

    segments = [SimpleNamespace(name="tier", offset=10, size=3), SimpleNamespace(name="city", offset=13, size=2)]
    table = pd.DataFrame(
        {
            "characteristic": ["tier"] * 3 + ["city"] * 2,
            "type": ["bucketized"] * 3 + ["categorical"] * 2,
            "attribute_index": [0, 1, 2, 0, 1],
            "attribute": ["< 1", "[1, 2)", ">= 2", "(other)", "north"],
            "weight": [0.0, 0.1, 0.2, 0.0, -0.5],
            "points": [5.0, 2.0, 0.0, 0.0, 14.0],
        }
    )
    # tier: index 0 → 2 goods 2 bads, index 1 → 3 goods 0 bads, index 2 → no rows; city: 0 → 5 goods 2 bads ...
    tier = np.array([0, 0, 0, 0, 1, 1, 1]) + 10
    city = np.array([0, 0, 0, 0, 0, 0, 1]) + 13
    labels = np.array([1, 1, 0, 0, 0, 0, 0])
    out = add_binning_statistics(table, np.stack([tier, city], axis=1), labels, segments)
    goods, bads = 5, 2
    row = out[(out["characteristic"] == "tier") & (out["attribute_index"] == 0)].iloc[0]
    assert (row["count"], row["bad_count"], row["bad_rate"]) == (4, 2, 0.5)
    assert row["woe"] == pytest.approx(np.log((2 / goods) / (2 / bads)))
    adjusted = out[(out["characteristic"] == "tier") & (out["attribute_index"] == 1)].iloc[0]
    assert adjusted["woe"] == pytest.approx(np.log((3.5 / goods) / (0.5 / bads)))  # no bads: + 0.5 each
    empty = out[(out["characteristic"] == "tier") & (out["attribute_index"] == 2)].iloc[0]
    assert empty["count"] == 0 and np.isnan(empty["woe"]) and empty["iv"] == 0
    expected_iv = (2 / goods - 2 / bads) * np.log((2 / goods) / (2 / bads)) + (3.5 / goods - 0.5 / bads) * np.log(
        (3.5 / goods) / (0.5 / bads)
    )
    assert row["characteristic_iv"] == pytest.approx(expected_iv)
    assert out[out["characteristic"] == "city"]["attribute"].tolist() == ["north", "(other)"]  # categories by points
    assert out[out["characteristic"] == "tier"]["attribute_index"].tolist() == [0, 1, 2]  # bins in order


def test_binning_statistics_agree_with_toad():
    """WoE and IV as toad computes them (a credit-scorecard library; a dev dependency, used only here), where every
    attribute has goods and bads: toad's WoE is ln(share of bads / share of goods), ours its negative."""
    from types import SimpleNamespace

    import pandas as pd
    from toad.stats import IV
    from toad.transform import WOETransformer

    from wide_deep.evidence.scorecard import add_binning_statistics

    rng = np.random.default_rng(7)
    n = 5000
    attribute = rng.integers(0, 4, n)
    labels = (rng.random(n) < np.array([0.1, 0.2, 0.35, 0.5])[attribute]).astype(int)
    table = pd.DataFrame(
        {
            "characteristic": ["band"] * 4,
            "type": ["bucketized"] * 4,
            "attribute_index": [0, 1, 2, 3],
            "attribute": ["< 1", "[1, 2)", "[2, 3)", ">= 3"],
            "weight": [0.0, 0.1, 0.2, 0.3],
            "points": [9.0, 6.0, 3.0, 0.0],
        }
    )
    out = add_binning_statistics(
        table, (attribute + 20)[:, None], labels, [SimpleNamespace(name="band", offset=20, size=4)]
    )
    toad_woe = WOETransformer().fit(attribute, labels).transform(np.arange(4))
    np.testing.assert_allclose(out["woe"].to_numpy(), -np.asarray(toad_woe), rtol=1e-9)
    toad_iv, toad_sub = IV(attribute, labels, return_sub=True)
    np.testing.assert_allclose(out["iv"].to_numpy(), np.asarray(toad_sub, dtype=float), rtol=1e-9)
    assert out["characteristic_iv"].iloc[0] == pytest.approx(toad_iv, rel=1e-9)


def test_the_readable_share_is_one_for_a_scorecard_and_less_with_a_deep_term(toy_spec, toy_frame, tmp_path):
    from wide_deep.evidence.scorecard import readable_share

    wide, arrays, labels = toy_estimator(toy_spec, toy_frame, tmp_path / "w", "wide", learning_rate=3e-2, epochs=3)
    train_toy(wide, arrays, labels)
    encoded = wide.encode(arrays)
    share = readable_share(wide, encoded, wide.logits_encoded(encoded))
    assert share["readable_share"] == pytest.approx(1.0, abs=1e-6) and share["opaque_characteristics"] == 0
    both, arrays, labels = toy_estimator(toy_spec, toy_frame, tmp_path / "b", learning_rate=3e-2, epochs=3)
    train_toy(both, arrays, labels)
    encoded = both.encode(arrays)
    logit = both.logits_encoded(encoded).astype("float64")
    share = readable_share(both, encoded, logit)
    deep = both.core.get_layer("deep_logit")
    assert deep is not None and 0 < share["readable_share"] < 1
    assert share["opaque_std"] > 0 and share["logit_std"] == pytest.approx(logit.std(), rel=1e-6)


def test_a_score_far_beyond_the_scale_is_a_probability_of_0_or_1_not_an_overflow():
    from wide_deep.evidence.scorecard import Scaling

    scaling = Scaling(600, 50, 20)
    assert scaling.probability(30_000) == 0.0 and scaling.probability(1e308) == 0.0
    assert scaling.probability(-30_000) == 1.0 and scaling.probability(-1e308) == 1.0
    p = scaling.probability(550)
    assert 0 < p < 1 and abs(float(scaling.score(np.log(p / (1 - p)))) - 550) < 1e-9
