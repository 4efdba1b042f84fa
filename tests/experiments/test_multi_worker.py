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


def test_two_workers_train_in_lockstep(tmp_path):
    ports = [free_port(), free_port()]
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]}, "task": {"type": "worker", "index": index}}
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "experiments.train", *ARGS, f"--model_dir={tmp_path / 'cluster'}", "--distribution=multi_worker"],
            cwd=PROJECT_ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(tf_config)},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    chief, other = tmp_path / "cluster", tmp_path / "cluster" / "worker1"
    # the same weights after every step: compare the final checkpoints and every epoch's validation AUC
    chief_values, other_values = checkpoint_values(chief / "checkpoints"), checkpoint_values(other / "checkpoints")
    assert chief_values.keys() == other_values.keys() and len(chief_values) >= 10
    for name in chief_values:
        np.testing.assert_array_equal(chief_values[name], other_values[name], err_msg=name)
    pd.testing.assert_series_equal(pd.read_csv(chief / "history.csv")["val_auc"], pd.read_csv(other / "history.csv")["val_auc"])
    assert (chief / "export").exists() and not (other / "export").exists()      # the chief alone exports

    single = run_cli(*ARGS, f"--model_dir={tmp_path / 'single'}", "--export=false")
    assert single.returncode == 0, single.stderr[-3000:]
    auc_cluster = json.loads((chief / "metrics.json").read_text())["auc"]
    auc_single = json.loads((tmp_path / "single" / "metrics.json").read_text())["auc"]
    assert abs(auc_cluster - auc_single) < 0.03, (auc_cluster, auc_single)


def test_multi_worker_without_tf_config_is_a_clear_error(tmp_path):
    env_backup = os.environ.pop("TF_CONFIG", None)
    try:
        proc = run_cli(*ARGS, f"--model_dir={tmp_path}", "--distribution=multi_worker")
    finally:
        if env_backup is not None:
            os.environ["TF_CONFIG"] = env_backup
    assert proc.returncode == 2 and "TF_CONFIG" in proc.stderr and "Traceback" not in proc.stderr
