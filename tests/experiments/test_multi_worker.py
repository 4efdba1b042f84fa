"""Two MultiWorkerMirroredStrategy workers on localhost train in lockstep and match one worker's quality."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import tensorflow as tf

from tests.conftest import PROJECT_ROOT, run_cli
from wide_deep.serving import free_port

ARGS = ["--dataset=german", "--epochs=4", "--learning_rate=1e-3", "--early_stopping_patience=0"]


def checkpoint_values(directory) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(str(directory))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()  # weights and optimizer slots
            if name.endswith("VARIABLE_VALUE") and not name.startswith("save_counter")}


def run_two_workers(*args) -> list[str]:
    ports = [free_port(), free_port()]
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "experiments.train", *args, "--distribution=multi_worker"],
            cwd=PROJECT_ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(tf_config)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    return outputs


def assert_lockstep(chief, other) -> None:
    """The same weights and optimizer slots after the last step, and the same validation AUC after every epoch."""
    chief_values, other_values = checkpoint_values(chief / "checkpoints"), checkpoint_values(other / "checkpoints")
    assert chief_values.keys() == other_values.keys() and len(chief_values) >= 10
    for name in chief_values:
        np.testing.assert_array_equal(chief_values[name], other_values[name], err_msg=name)
    pd.testing.assert_series_equal(pd.read_csv(chief / "history.csv")["val_auc"], pd.read_csv(other / "history.csv")["val_auc"])


def test_two_workers_train_in_lockstep(tmp_path):
    run_two_workers(*ARGS, f"--model_dir={tmp_path / 'cluster'}")
    chief, other = tmp_path / "cluster", tmp_path / "cluster" / "worker1"
    assert_lockstep(chief, other)
    assert (chief / "export").exists() and not (other / "export").exists()      # the chief alone exports

    single = run_cli(*ARGS, f"--model_dir={tmp_path / 'single'}", "--export=false")
    assert single.returncode == 0, single.stderr[-3000:]
    auc_cluster = json.loads((chief / "metrics.json").read_text())["auc"]
    auc_single = json.loads((tmp_path / "single" / "metrics.json").read_text())["auc"]
    assert abs(auc_cluster - auc_single) < 0.03, (auc_cluster, auc_single)


def test_multi_worker_needs_a_valid_tf_config(monkeypatch):
    import pytest
    from experiments.train import multi_worker_strategy
    from feature_columns.errors import UserError
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(UserError, match="needs the TF_CONFIG environment variable"):
        multi_worker_strategy()
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 3}}')
    with pytest.raises(UserError, match="TF_CONFIG must look like"):
        multi_worker_strategy()


def test_sharded_files_each_worker_reads_its_own_shard(tmp_path):
    """Train files as a glob: two workers read two of the four files each, through tf.data, in lockstep
    (one process reading all of them is `tests/wide_deep/test_shards.py`)."""
    frame = pd.read_csv(PROJECT_ROOT / "data/german/germancredit.csv").sample(frac=1, random_state=0)
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(4):
        frame.iloc[k * 150:(k + 1) * 150].to_parquet(shards / f"train-{k:03d}.parquet", index=False)
    frame.iloc[600:800].to_parquet(shards / "valid.parquet", index=False)
    frame.iloc[800:].to_csv(shards / "test.csv", index=False)
    files = [f"--train_data={shards / 'train-*.parquet'}", f"--valid_data={shards / 'valid.parquet'}",
             f"--test_data={shards / 'test.csv'}"]
    outputs = run_two_workers(*ARGS, *files, f"--model_dir={tmp_path / 'cluster'}", "--export=false")
    assert "worker 1/2: read 2 of 4 training shard files through tf.data (300 rows)" in outputs[0]
    assert "worker 2/2: read 2 of 4 training shard files through tf.data (300 rows)" in outputs[1]
    assert_lockstep(tmp_path / "cluster", tmp_path / "cluster" / "worker1")
    assert json.loads((tmp_path / "cluster" / "metrics.json").read_text())["n_test"] == 200
