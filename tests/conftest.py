"""Shared fixtures: small generated SME data, tiny hand-made frames and one trained small run, all in temp dirs."""

from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as experiments/cli.py and the Makefile set it

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_columns import FeatureSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPECS = PROJECT_ROOT / "data" / "specs"
GERMAN = PROJECT_ROOT / "data" / "german" / "germancredit.csv"


def quiet(*_args) -> None:
    """A `log` that prints nothing."""


@pytest.fixture(scope="session")
def small_sme(tmp_path_factory) -> Path:
    """3,000 synthetic enterprises (~300k transactions) with the default generator settings."""
    from wide_deep.data.synthetic import GeneratorConfig, generate

    out = tmp_path_factory.mktemp("sme")
    generate(GeneratorConfig(num_enterprises=3000, seed=7, enterprises_per_file=1000), out, log=quiet)
    return out


@pytest.fixture(scope="session")
def sme_spec() -> FeatureSpec:
    return FeatureSpec.from_yaml(SPECS / "sme.yaml")


@pytest.fixture(scope="session")
def german_spec() -> FeatureSpec:
    return FeatureSpec.from_yaml(SPECS / "german.yaml")


def toy_transactions(window_days: float):
    """The transactions block of the hand-made logs: eid, ts, amt and dir ('in' / 'out') columns, as_of dates."""
    from feature_columns.spec import TransactionSpec

    return TransactionSpec(
        path="unused",
        id_column="eid",
        timestamp_column="ts",
        amount_column="amt",
        direction_column="dir",
        as_of_column="as_of",
        window_days=window_days,
    )


@pytest.fixture
def toy_frame() -> pd.DataFrame:
    return make_toy_frame()


def make_toy_frame() -> pd.DataFrame:
    """400 rows: a city that moves the default rate, a tier, an amount with gaps, an age, the label y."""
    rng = np.random.default_rng(0)
    n = 400
    city = rng.choice(["a", "b", "c"], n)
    amount = rng.lognormal(3, 1, n)
    amount[::17] = np.nan
    label = (rng.random(n) < np.where(city == "a", 0.6, 0.3)).astype(int)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "city": city,
            "tier": rng.integers(1, 4, n),
            "amount": amount,
            "age": rng.integers(20, 70, n).astype(float),
            "y": label,
        }
    )


@pytest.fixture
def toy_spec() -> FeatureSpec:
    return FeatureSpec.from_dict(
        {
            "label": {"column": "y", "positive": [1], "negative": [0]},
            "id": "id",
            "columns": [
                {"name": "city", "type": "categorical"},
                {"name": "tier", "type": "categorical"},
                {"name": "amount", "type": "numeric", "encoding": "ple", "num_bins": 4},
                {"name": "age", "type": "bucketized", "boundaries": [30, 40, 50], "route": "both"},
            ],
            "crosses": [{"keys": ["city", "tier"], "min_frequency": 1}, {"keys": ["city", "age"], "min_frequency": 1}],
        }
    )


def add_toy_history(frame: pd.DataFrame, steps: int = 4) -> pd.DataFrame:
    """The toy frame with a 4-step history in two channels (v_1..v_4 heavy-tailed, w_1..w_4), whose last steps move
    the label; the first step is missing for one row in five (a short history)."""
    rng = np.random.default_rng(1)
    n = len(frame)
    out = frame.copy()
    for t in range(1, steps + 1):
        out[f"v_{t}"] = rng.lognormal(2, 1, n) * (1 + out["y"] * t / steps)
        out[f"w_{t}"] = rng.normal(0, 1, n) + 0.5 * out["y"] * (t == steps)
    out.loc[::5, ["v_1", "w_1"]] = np.nan
    return out


TOY_HISTORY = {
    "name": "history",
    "channels": {"v": [f"v_{t}" for t in range(1, 5)], "w": [f"w_{t}" for t in range(1, 5)]},
    "log_scaled": ["v"],
}


def toy_estimator(
    toy_spec, toy_frame, folder, model_type: str = "wide_deep", hidden_units=(8,), model: dict | None = None, **train
):
    """An untrained Estimator on the toy data with a small MLP: (estimator, prepared arrays, labels). `model`:
    more ModelConfig settings (with `sequences`, also how the spec is routed)."""
    from feature_columns.fitting import fit_state
    from feature_columns.inputs import prepare_frame
    from wide_deep.core.config import ModelConfig, TrainConfig
    from wide_deep.core.trainer import Estimator
    from wide_deep.record.model_dir import ModelDir

    model = model or {}
    spec = toy_spec.for_model(model_type, use_crosses=True, sequences=model.get("sequences", "aggregates"))
    arrays = prepare_frame(spec, toy_frame)
    config = TrainConfig(**{"batch_size": 64, "learning_rate": 1e-2, "epochs": 3, **train})
    estimator = Estimator(
        ModelDir(folder).training_files(),
        spec,
        fit_state(spec, arrays),
        ModelConfig(model_type=model_type, hidden_units=hidden_units, **model),
        config,
        log=quiet,
    )
    return estimator, arrays, toy_frame["y"].to_numpy()


def train_toy(estimator, arrays, labels) -> list[dict]:
    """Train on the toy rows, validated on the same rows (the tests check mechanics, not generalisation)."""
    from wide_deep.data.training_input import TrainingInput

    split = estimator.encode_split(arrays, labels)
    return estimator.train(TrainingInput.in_memory(len(labels)), split, split)


def sme_config(small_sme, model_dir, accurate: bool = True, **changes):
    """The RunConfig of a small SME run: the generated 3,000 enterprises, 8 epochs at learning rate 1e-3, with the
    accurate preset's model (a warm-started wide branch and a GA2M's compiled terms as wide columns) unless
    `accurate` is False; the transaction aggregates without the spec's sequence."""
    import dataclasses

    from wide_deep.core.config import ModelConfig, TrainConfig
    from wide_deep.record.config import RunConfig

    config = RunConfig(
        dataset="sme",
        train_data=str(small_sme / "applications.parquet"),
        model_dir=str(model_dir),
        # the aggregates only (the tests of the sequence tower use `sme_sequence_run` and the CLI's defaults)
        model=ModelConfig(warm_start="logistic", wide_gbdt=True, gbdt_terms="pairs", sequences="aggregates")
        if accurate
        else ModelConfig(sequences="aggregates"),
        train=TrainConfig(epochs=8, learning_rate=1e-3, early_stopping_patience=0),
    )
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="session")
def sme_run(small_sme, tmp_path_factory) -> Path:
    """One small SME run trained in process (evidence and export included): its model_dir."""
    from wide_deep.run.pipeline import run_training

    model_dir = tmp_path_factory.mktemp("run") / "sme"
    run_training(sme_config(small_sme, model_dir), log=quiet)
    return model_dir


@pytest.fixture(scope="session")
def sme_sequence_run(small_sme, tmp_path_factory) -> Path:
    """A small SME run with the weekly transaction sequence through a TCN beside the aggregates and a gated fusion
    (evidence and export included): its model_dir."""
    import dataclasses

    from wide_deep.run.pipeline import run_training

    model_dir = tmp_path_factory.mktemp("run") / "sme_sequence"
    config = sme_config(small_sme, model_dir)
    model = dataclasses.replace(
        config.model, sequences="both", sequence_tower="tcn", sequence_units=8, fusion="gate", hidden_units=(32, 16)
    )
    run_training(dataclasses.replace(config, model=model), log=quiet)
    return model_dir


def sigkill_after_epochs(process: subprocess.Popen, history: Path, epochs: int, timeout: float = 300) -> None:
    """SIGKILL a training process once its history.csv holds `epochs` epochs (so, most likely, mid-epoch)."""
    import signal
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) > epochs:  # a header line, then one per epoch
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"


def run_cli(*args, cwd=PROJECT_ROOT, module="experiments.train"):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
