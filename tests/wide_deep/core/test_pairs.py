"""Pairs the additive scorecard misses: FAST's cross-fitted gain ranks a real interaction first and finds none in
noise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from feature_columns import FeatureSpec


def _data(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(0, 1, n) for i in range(5)})
    logit = 0.8 * frame["x0"] + 1.5 * np.sign(frame["x1"]) * np.sign(frame["x2"])  # x1 × x2: no main effect
    frame["y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return frame


def _splits(frame):
    from feature_columns.fitting import fit_state
    from feature_columns.inputs import prepare_frame
    from wide_deep.data.dataset import Split

    spec = FeatureSpec.from_dict({"label": "y", "columns": [{"name": f"x{i}", "type": "numeric"} for i in range(5)]})
    routed = spec.for_model("wide", use_crosses=True, scorecard="full")
    half = len(frame) // 2
    splits = [frame.iloc[:half], frame.iloc[half:]]
    arrays = [prepare_frame(routed, f) for f in splits]
    state = fit_state(routed, arrays[0])
    return routed, state, [Split(a, f["y"].to_numpy()) for a, f in zip(arrays, splits)]


def test_the_real_interaction_ranks_first_and_noise_pairs_gain_nothing():
    from wide_deep.core.pairs import propose_crosses, ranked_pairs

    routed, state, (train, valid) = _splits(_data())
    said = []
    ranked = ranked_pairs(routed, state, train, valid, seed=0)
    crosses, proposed = propose_crosses(ranked, max_pairs=10, log=said.append)
    assert crosses[0].keys == ("x1", "x2") and proposed.crosses == crosses
    assert "x1 × x2" in said[0]
    assert len(ranked) == 10 and len(crosses) == sum(pair.gain > 0 for pair in ranked) < 10  # crosses: gains only


def test_a_pair_of_noise_features_gains_nothing_on_the_held_out_half():
    from wide_deep.core.pairs import rank_pairs
    from wide_deep.core.tensors import Encoder

    routed, state, (train, valid) = _splits(_data())
    encoder = Encoder(routed, state)
    ranked = rank_pairs(*(encoder.encode_split(s.arrays, s.labels) for s in (train, valid)), encoder, seed=0)
    gains = {pair.keys: pair.gain for pair in ranked}
    assert ranked[0].keys == ("x1", "x2") and ranked[0].gain > 10 * abs(ranked[1].gain)
    assert all(gains[pair] < 0 for pair in [("x3", "x4"), ("x1", "x3"), ("x2", "x4")])  # no signal: below zero


def test_proposed_crosses_are_recorded_and_route_the_model_again(tmp_path):
    from feature_columns.fitting import PROPOSED_CROSSES, state_from_json, state_to_json
    from wide_deep.core.config import ModelConfig
    from wide_deep.core.pairs import propose_crosses, ranked_pairs
    from wide_deep.record.config import RunConfig

    routed, state, (train, valid) = _splits(_data())
    ranked = ranked_pairs(routed, state, train, valid, seed=0)
    crosses, proposed = propose_crosses(ranked, max_pairs=1, log=lambda *_: None)
    again = state_from_json(state_to_json({**state, PROPOSED_CROSSES: proposed}), "test")
    assert again[PROPOSED_CROSSES] == proposed
    spec = FeatureSpec.from_dict({"label": "y", "columns": [{"name": f"x{i}", "type": "numeric"} for i in range(5)]})
    config = RunConfig(model=ModelConfig(model_type="wide", scorecard="full"))
    assert [c.name for c in config.route(spec, again).crosses] == ["x1_x_x2"]
    assert not config.route(spec).crosses
