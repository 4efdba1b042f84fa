"""Shared fixtures: small generated SME data and tiny hand-made frames, all in temp dirs."""
from __future__ import annotations

import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from feature_columns import FeatureSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SPECS = PROJECT_ROOT / "data" / "specs"


@pytest.fixture(scope="session")
def small_sme(tmp_path_factory) -> Path:
    """3,000 synthetic enterprises (~300k transactions) with the default generator settings."""
    from wide_deep.synthetic import GeneratorConfig, generate
    out = tmp_path_factory.mktemp("sme")
    generate(GeneratorConfig(num_enterprises=3000, seed=7, enterprises_per_file=1000), out, log=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def sme_spec() -> FeatureSpec:
    return FeatureSpec.from_yaml(SPECS / "sme.yaml")


@pytest.fixture
def toy_frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    city = rng.choice(["a", "b", "c"], n)
    amount = rng.lognormal(3, 1, n)
    amount[::17] = np.nan
    label = (rng.random(n) < np.where(city == "a", 0.6, 0.3)).astype(int)
    return pd.DataFrame({"id": np.arange(n), "city": city, "tier": rng.integers(1, 4, n), "amount": amount,
                         "age": rng.integers(20, 70, n).astype(float), "y": label})


@pytest.fixture
def toy_spec() -> FeatureSpec:
    return FeatureSpec.from_dict({
        "label": {"column": "y", "positive": [1], "negative": [0]},
        "id": "id",
        "columns": [
            {"name": "city", "type": "categorical"},
            {"name": "tier", "type": "categorical"},
            {"name": "amount", "type": "numeric", "encoding": "ple", "num_bins": 4},
            {"name": "age", "type": "bucketized", "boundaries": [30, 40, 50], "route": "both"},
        ],
        "crosses": [{"keys": ["city", "tier"], "min_frequency": 1}, {"keys": ["city", "age"], "min_frequency": 1}],
    })


def sigkill_after_epochs(process: subprocess.Popen, history: Path, epochs: int, timeout: float = 300) -> None:
    """SIGKILL a training process once its history.csv holds `epochs` epochs (so, most likely, mid-epoch)."""
    import signal
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) > epochs:   # a header line, then one per epoch
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run finished before it could be killed"


def run_cli(*args, cwd=PROJECT_ROOT, module="experiments.train"):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="session")
def sme_run(small_sme, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("run") / "sme"
    proc = run_cli("--dataset=sme", f"--train_data={small_sme / 'applications.parquet'}", f"--model_dir={model_dir}",
                   "--epochs=8", "--learning_rate=1e-3", "--early_stopping_patience=0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return model_dir, proc
