"""Training-throughput benchmark: the real epoch loop next to tight-loop references, same run.

    make bench                      # default SME data (generated if absent), batch 256

Rows (examples/s, median of interleaved repeats):
- pipeline: the trainer's epoch (seeded in-graph shuffle, full batches, tail batch) on the
  encoded training split, exactly what `make train` reports as train_examples_per_sec;
- core_tight_loop: the same model and optimizers over unshuffled in-memory tensors;
- mlp_tight_loop: a bare 256-128-64 MLP with Adam over in-memory tensors of the deep
  branch's input width (the practical compute ceiling for the deep branch).
Then a scaling table (the pipeline's epoch time on growing prefixes of the training split)
and the transaction aggregation's rows/s. The last line is
`throughput_ratio: pipeline / mlp_tight_loop`.
"""
from __future__ import annotations

import time

import numpy as np
from absl import app, flags

from experiments.cli import run_reporting_user_errors

flags.DEFINE_string("dataset", "sme", "Built-in dataset to benchmark on")
flags.DEFINE_integer("batch_size", 256, "Training batch size")
flags.DEFINE_integer("repeats", 5, "Interleaved repeats per row (median reported)")
flags.DEFINE_integer("num_enterprises", 129_880, "Synthetic SME size if the data must be generated")
flags.DEFINE_boolean("deterministic", True, "TensorFlow op determinism, as in training (--nodeterministic to compare)")
FLAGS = flags.FLAGS


def mlp_reference(width: int, n: int, batch: int, hidden=(256, 128, 64)):
    import keras
    import tensorflow as tf
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((n, width), dtype=np.float32))
    y = tf.constant((rng.random(n) > 0.5).astype("float32"))
    inputs = keras.Input((width,))
    h = inputs
    for units in hidden:
        h = keras.layers.Dense(units, activation="relu")(h)
    model = keras.Model(inputs, keras.ops.squeeze(keras.layers.Dense(1)(h), -1))
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    @tf.function
    def epoch():
        total = tf.constant(0.0)
        for i in tf.range(n // batch):
            s = i * batch
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(y[s:s + batch], model(x[s:s + batch], training=True)))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            total += loss
        return total
    return lambda: float(epoch())


def main(argv):
    del argv
    run_reporting_user_errors(benchmark)


def benchmark() -> None:
    import tempfile

    from feature_columns import FeatureSpec
    from feature_columns.fitting import fit_state
    from wide_deep import datasets
    from wide_deep.config import RunConfig
    from wide_deep.data import load_dataset
    from wide_deep.model import ModelConfig
    from wide_deep.run import ensure_synthetic_data
    from wide_deep.trainer import Estimator, TrainConfig
    import tensorflow as tf

    info = datasets.resolve(FLAGS.dataset, None, None)
    ensure_synthetic_data(info, RunConfig(num_enterprises=FLAGS.num_enterprises))
    spec = FeatureSpec.from_yaml(info.spec)
    data = load_dataset(spec, info.data, log=lambda *_: None)
    train_x, train_y = data.split("train")
    routed = spec.for_model("wide_deep", use_crosses=True)   # what `make train` trains (protected columns out)
    estimator = Estimator(tempfile.mkdtemp(), routed, fit_state(spec, train_x), ModelConfig(),
                          TrainConfig(batch_size=FLAGS.batch_size, deterministic=FLAGS.deterministic), log=lambda *_: None)
    encoded = estimator.encode(train_x)
    labels = tf.constant(train_y.astype("float32"))
    n = len(train_y)
    fns = estimator._make_train_fns()
    full = n - n % FLAGS.batch_size
    head = {k: v[:full] for k, v in encoded.items()}
    epoch_counter = iter(range(1, 10_000))
    width = len(estimator.layout.deep_dense_names) + sum(d for _, _, d in estimator.layout.deep_embeddings)
    rows = {
        "pipeline": (n, lambda: estimator._train_epoch(fns, encoded, labels, next(epoch_counter))),
        "core_tight_loop": (full, lambda: float(fns[0](head, labels[:full]))),
        "mlp_tight_loop": (full, mlp_reference(width, n, FLAGS.batch_size)),
    }
    timings = {name: [] for name in rows}
    for fn_rows, fn in rows.values():
        fn()  # trace and warm up
    for _ in range(FLAGS.repeats):
        for name, (count, fn) in rows.items():
            start = time.perf_counter()
            fn()
            timings[name].append(count / (time.perf_counter() - start))
    print(f"dataset {info.name}: {n:,} training rows, batch {FLAGS.batch_size}, deep input width {width}, "
          f"wide columns {len(estimator.layout.wide_segments)}; "
          f"op determinism {'on' if FLAGS.deterministic else 'off'}; {FLAGS.repeats} interleaved repeats")
    print(f"{'row':<18}{'median ex/s':>14}{'min':>12}{'max':>12}")
    for name, values in timings.items():
        print(f"{name:<18}{np.median(values):>14,.0f}{min(values):>12,.0f}{max(values):>12,.0f}")
    print(f"pipeline / core_tight_loop: {np.median(timings['pipeline']) / np.median(timings['core_tight_loop']):.2f}")

    print("\nscaling: the pipeline's epoch on the first N training rows (median of 3; the splits are held in memory,")
    print("so memory grows with N: about the encoded split plus the raw arrays)")
    print(f"{'rows':>10}{'s/epoch':>10}{'ex/s':>12}{'s per 10k rows':>16}")
    for size in sorted({min(s, n) for s in (10_000, 30_000, n)}):
        part = {k: v[:size] for k, v in encoded.items()}
        seconds = []
        for _ in range(3):
            start = time.perf_counter()
            estimator._train_epoch(fns, part, labels[:size], next(epoch_counter))
            seconds.append(time.perf_counter() - start)
        t = float(np.median(seconds))
        print(f"{size:>10,}{t:>10.3f}{size / t:>12,.0f}{t / size * 10_000:>16.3f}")
    if spec.transactions is not None:
        from wide_deep.aggregation import aggregate_transactions
        import pandas as pd
        apps = pd.read_parquet(info.data)
        start = time.perf_counter()
        _, report = aggregate_transactions(info.data.parent / spec.transactions.path, apps, spec.transactions, spec.id_column)
        seconds = time.perf_counter() - start
        print(f"\naggregation: {report.rows_in_window:,} transactions in {seconds:.1f} s = "
              f"{report.rows_in_window / seconds:,.0f} rows/s (DuckDB, 2 threads, 2 GB memory limit)")
    print(f"throughput_ratio: {np.median(timings['pipeline']) / np.median(timings['mlp_tight_loop']):.2f}")


if __name__ == "__main__":
    app.run(main)
