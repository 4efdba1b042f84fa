"""Two MultiWorkerMirroredStrategy workers on localhost train in lockstep and match one worker's quality."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tests.conftest import PROJECT_ROOT, sigkill_after_epochs
from wide_deep.serving.server import free_port

ARGS = ["--preset=paper", "--dataset=german", "--epochs=12", "--learning_rate=1e-3", "--early_stopping_patience=0"]


def checkpoint_values(directory) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(str(directory))
    return {
        name: reader.get_tensor(name)
        for name in reader.get_variable_to_shape_map()  # weights and optimizer slots
        if name.endswith("VARIABLE_VALUE") and not name.startswith("save_counter")
    }


def start_two_workers(*args) -> list[subprocess.Popen]:
    ports = [free_port(), free_port()]
    workers = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": [f"localhost:{p}" for p in ports]},
            "task": {"type": "worker", "index": index},
        }
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "experiments.train", *args, "--distribution=multi_worker"],
                cwd=PROJECT_ROOT,
                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "TF_CONFIG": json.dumps(tf_config)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    return workers


def newest_epoch(model_dir) -> int:
    return int(tf.train.get_checkpoint_state(str(model_dir / "checkpoints")).model_checkpoint_path.rsplit("-", 1)[1])


def run_two_workers(*args) -> list[str]:
    workers = start_two_workers(*args)
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
    pd.testing.assert_series_equal(
        pd.read_csv(chief / "history.csv")["val_auc"], pd.read_csv(other / "history.csv")["val_auc"]
    )


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    """An uninterrupted two-worker run (the reference for lockstep, quality and resume)."""
    model_dir = tmp_path_factory.mktemp("multi_worker") / "cluster"
    run_two_workers(*ARGS, f"--model_dir={model_dir}", "--noevidence")
    return model_dir


def test_two_workers_train_in_lockstep(cluster_run, tmp_path):
    chief, other = cluster_run, cluster_run / "worker1"
    assert_lockstep(chief, other)
    assert (chief / "export").exists() and not (other / "export").exists()  # the chief alone exports

    from tests.conftest import quiet
    from wide_deep.core.config import TrainConfig
    from wide_deep.record.config import RunConfig
    from wide_deep.run.pipeline import run_training

    single = RunConfig(
        dataset="german",
        model_dir=str(tmp_path / "single"),
        export=False,
        evidence=False,
        train=TrainConfig(epochs=12, learning_rate=1e-3, early_stopping_patience=0),
    )  # ARGS, one process
    auc_single = run_training(single, log=quiet)["auc"]
    auc_cluster = json.loads((chief / "metrics.json").read_text())["auc"]
    assert abs(auc_cluster - auc_single) < 0.03, (auc_cluster, auc_single)


def test_a_run_whose_worker_is_killed_resumes_to_the_same_weights(cluster_run, tmp_path):
    """SIGKILL one worker mid-run: the other fails at its next collective (MultiWorkerMirroredStrategy has
    no elastic recovery); rerunning both commands resumes from the newest checkpoint both hold and ends
    with the uninterrupted run's weights and metrics."""
    model_dir = tmp_path / "cluster"
    args = (*ARGS, f"--model_dir={model_dir}", "--noevidence")
    chief, other = start_two_workers(*args)
    history = model_dir / "worker1" / "history.csv"
    sigkill_after_epochs(other, history, epochs=3)
    output = chief.communicate(timeout=300)[0]
    assert chief.returncode == 1 and not (model_dir / "metrics.json").exists(), output[-2000:]
    assert (
        "error: another worker of the cluster stopped" in output and "rerun the same command on every worker" in output
    )
    epochs_done = len(pd.read_csv(history))
    assert 3 <= epochs_done < 12
    # Make sure the killed worker is a checkpoint behind the chief (as when the kill lands between a
    # worker's history and checkpoint writes), so the resume must agree on the older checkpoint.
    state = tf.train.get_checkpoint_state(str(model_dir / "worker1" / "checkpoints"))
    behind = newest_epoch(model_dir / "worker1")
    if behind == newest_epoch(model_dir):
        tf.compat.v1.train.update_checkpoint_state(
            str(model_dir / "worker1" / "checkpoints"),
            state.all_model_checkpoint_paths[-2],
            state.all_model_checkpoint_paths[:-1],
        )
        behind -= 1

    outputs = run_two_workers(*args)
    assert f"all resume from epoch {behind}" in outputs[0], outputs[0][-2000:]
    assert all(f"(epoch {behind}, best validation AUC" in out for out in outputs)
    assert_lockstep(model_dir, model_dir / "worker1")
    for name, expected in checkpoint_values(cluster_run / "checkpoints").items():
        np.testing.assert_array_equal(checkpoint_values(model_dir / "checkpoints")[name], expected, err_msg=name)
    got, expected = (json.loads((d / "metrics.json").read_text()) for d in (model_dir, cluster_run))
    for key in ("auc", "log_loss", "threshold", "f1", "best_epoch", "epochs_trained"):
        assert got[key] == expected[key], key
    pd.testing.assert_series_equal(
        pd.read_csv(model_dir / "history.csv")["val_auc"], pd.read_csv(cluster_run / "history.csv")["val_auc"]
    )


@pytest.mark.parametrize("streaming", [False, True], ids=["in_memory", "streamed"])
def test_sharded_files_each_worker_reads_its_own_shard(tmp_path, streaming):
    """Train files as a glob: two workers read two of the four files each, through tf.data, in lockstep,
    held in memory or streamed every epoch (one process reading all of them is `tests/wide_deep/test_shards.py`)."""
    frame = pd.read_csv(PROJECT_ROOT / "data/german/germancredit.csv").sample(frac=1, random_state=0)
    shards = tmp_path / "shards"
    shards.mkdir()
    for k in range(4):
        frame.iloc[k * 150 : (k + 1) * 150].to_parquet(shards / f"train-{k:03d}.parquet", index=False)
    frame.iloc[600:800].to_parquet(shards / "valid.parquet", index=False)
    frame.iloc[800:].to_csv(shards / "test.csv", index=False)
    files = [
        f"--train_data={shards / 'train-*.parquet'}",
        f"--valid_data={shards / 'valid.parquet'}",
        f"--test_data={shards / 'test.csv'}",
    ]
    mode = ["--streaming", "--fit_shards=2", "--shuffle_window=128"] if streaming else []
    outputs = run_two_workers(
        *ARGS, "--epochs=4", *files, *mode, f"--model_dir={tmp_path / 'cluster'}", "--export=false", "--noevidence"
    )
    verb = (
        "streams 2 of 4 training shard files through tf.data every epoch"
        if streaming
        else "read 2 of 4 training shard files through tf.data"
    )
    assert f"worker 1/2: {verb} (300 rows)" in outputs[0]
    assert f"worker 2/2: {verb} (300 rows)" in outputs[1]
    assert_lockstep(tmp_path / "cluster", tmp_path / "cluster" / "worker1")
    result = json.loads((tmp_path / "cluster" / "metrics.json").read_text())
    assert result["n_test"] == 200 and result["n_train"] == 600
