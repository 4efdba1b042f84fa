"""The sequence probe: the steps of a sequence raise its validation AUC when they carry what the scalars miss,
and do not when they are noise."""

import types

import numpy as np
import pandas as pd
import pytest

from feature_columns import FeatureSpec
from feature_columns.fitting import fit_state
from feature_columns.inputs import prepare_frame
from wide_deep.core.sequence_probe import flattened_steps, probe
from wide_deep.ranking import auc

STEPS = 4


def history_frame(n: int, informative: bool, seed: int) -> pd.DataFrame:
    """A city and an amount that move the label a little; a 4-step history whose change from the first to the last
    step moves it a lot when `informative` (no scalar column holds that change), and is noise otherwise."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 1, (n, STEPS))
    city = rng.choice(["a", "b", "c"], n)
    amount = rng.lognormal(3, 1, n)
    logit = 0.3 * (city == "a") + 0.2 * np.log(amount) - 0.6
    if informative:
        logit = logit + 2.0 * (steps[:, -1] - steps[:, 0])
    frame = pd.DataFrame({"city": city, "amount": amount, "y": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)})
    for t in range(STEPS):
        frame[f"s_{t + 1}"] = steps[:, t]
    return frame


SPEC = FeatureSpec.from_dict(
    {
        "label": "y",
        "columns": [{"name": "city", "type": "categorical"}, {"name": "amount", "type": "numeric"}],
        "sequences": [{"name": "history", "channels": {"s": [f"s_{t}" for t in range(1, STEPS + 1)]}}],
    }
).for_model("wide_deep", use_crosses=False, sequences="both")


def split(frame: pd.DataFrame):
    return types.SimpleNamespace(arrays=prepare_frame(SPEC, frame), labels=frame["y"].to_numpy())


@pytest.mark.parametrize("informative", [True, False])
def test_the_probe_gains_from_steps_only_when_they_carry_what_the_scalars_miss(informative):
    train, valid = split(history_frame(4000, informative, 1)), split(history_frame(2000, informative, 2))
    state = fit_state(SPEC, train.arrays)
    scores = probe(SPEC, state, train, valid, seed=0)
    gain = auc(valid.labels, scores.with_steps) - auc(valid.labels, scores.without)
    if informative:
        assert gain > 0.1
    else:  # noise: no gain (on 4,000 rows the extra columns cost a little)
        assert gain < 0.001
    assert scores.without.shape == scores.with_steps.shape == (2000,)


def test_steps_are_flattened_one_column_per_step_and_channel_with_gaps_kept():
    frame = history_frame(10, True, 3)
    frame.loc[0, "s_1"] = np.nan
    flat = flattened_steps(prepare_frame(SPEC, frame), SPEC)
    assert flat.shape == (10, STEPS) and np.isnan(flat[0, 0]) and not np.isnan(flat[1:]).any()
