"""--preset: the accurate defaults of `make train`, the paper's Table 1 for the studies; explicit flags win."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PROJECT_ROOT

SHOW = """
import json, sys
from absl import flags
from experiments import train
train.define_flags(preset=sys.argv[1])
flags.FLAGS(["train", *sys.argv[2:]])
config = train.config_from_flags(flags.FLAGS)
print(json.dumps({"model": config.model.__dict__, "train": config.train.__dict__}, default=str))
"""


def resolved(default_preset: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", SHOW, default_preset, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("default_preset", ["accurate", "paper"])
def test_each_entry_point_has_its_preset(default_preset):
    config = resolved(default_preset)
    if default_preset == "accurate":  # make train
        assert config["model"]["warm_start"] == "logistic" and config["model"]["wide_gbdt"] is True
        assert config["model"]["gbdt_terms"] == "pairs" and config["model"]["min_tree_gain"] == 0.001
        assert config["train"]["learning_rate"] == 1e-3 and config["train"]["min_steps"] == 2000
        assert config["train"]["early_stopping_patience"] == 10 and config["train"]["epochs"] == 100
    else:  # make ablation, make sensitivity: the paper's Table 1
        assert config["model"]["warm_start"] == "none" and config["model"]["wide_gbdt"] is False
        assert config["train"]["learning_rate"] == 1e-4 and config["train"]["epochs"] == 50
        assert config["train"]["batch_size"] == 256 and config["train"]["min_steps"] == 0


def test_explicit_flags_override_the_preset():
    config = resolved("accurate", "--learning_rate=3e-4", "--nowide_gbdt", "--epochs=7")
    assert config["train"]["learning_rate"] == 3e-4 and config["model"]["wide_gbdt"] is False
    assert config["train"]["epochs"] == 7 and config["train"]["min_steps"] == 0  # an explicit --epochs is honoured
    assert config["model"]["warm_start"] == "logistic"
    assert resolved("accurate", "--preset=paper")["train"]["learning_rate"] == 1e-4
