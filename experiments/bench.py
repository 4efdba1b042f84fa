"""Training-throughput benchmark: the real epoch loop next to tight-loop references, same run.

    make bench                      # default SME data (generated if absent), batch 256

Rows (examples/s, median of interleaved repeats):
- pipeline: the trainer's epoch (seeded in-graph shuffle, full batches, tail batch) on the
  encoded training split, exactly what `make train` reports as train_examples_per_sec;
- core_tight_loop: the same model and optimizers over unshuffled in-memory tensors;
- mlp_tight_loop: a bare 256-128-64 MLP with Adam over in-memory tensors of the deep
  branch's input width (the practical compute ceiling for the deep branch);
- keras_model_fit: the same Wide & Deep core compiled and trained with Keras `Model.fit` on
  the same encoded split (the idiomatic Keras way).
Then the transaction aggregation beside a plain DuckDB group-by, the same features on DuckDB and on Spark
`local[2]` (`experiments/bench_engines.py`, `--noengines` skips it), and a scaling table: the training CLI run on
10k, 100k and 1M training rows (sharded Parquet files, rows drawn with replacement from the
SME training split), once holding the data in memory and once with `--streaming`, each in
its own process: seconds per epoch (median after the first) and peak RSS. Before it, `make train` with default
flags beside `--preset=paper` on the same data (each run its own process, medians of --train_runs): test AUC,
training examples/s, wall time, the fitting stages against the evidence and the export, peak RSS, with the ratio
default/paper. The last line is
`throughput_ratio: pipeline / mlp_tight_loop`.
"""

from __future__ import annotations

import time

import numpy as np
from absl import flags

from experiments.cli import command

flags.DEFINE_string("dataset", "sme", "Built-in dataset to benchmark on")
flags.DEFINE_integer("batch_size", 256, "Training batch size")
flags.DEFINE_integer("repeats", 5, "Interleaved repeats per row (median reported)")
flags.DEFINE_integer("num_enterprises", 129_880, "Synthetic SME size if the data must be generated")
flags.DEFINE_boolean("deterministic", True, "TensorFlow op determinism, as in training (--nodeterministic to compare)")
flags.DEFINE_list("scaling_rows", ["10000", "100000", "1000000"], "Training rows of the scaling table (empty: skip it)")
flags.DEFINE_integer(
    "train_runs",
    3,
    "make train runs per preset for the default-vs-paper table (interleaved; 0: skip it)",
    lower_bound=0,
)
flags.DEFINE_boolean(
    "engines", True, "The transaction features on DuckDB and on Spark local[2] (experiments/bench_engines.py)"
)
flags.DEFINE_integer(
    "scaling_epochs", 3, "Epochs per scaling run (the first, which traces, is not counted)", lower_bound=2
)
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
                loss = tf.reduce_mean(
                    tf.nn.sigmoid_cross_entropy_with_logits(y[s : s + batch], model(x[s : s + batch], training=True))
                )
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            total += loss
        return total

    return lambda: float(epoch())


def keras_fit_reference(layout, encoded: dict, labels, batch: int):
    """The same Wide & Deep core trained the way a Keras user would write it: `compile` and `Model.fit`
    (one Adam at 1e-4, shuffled batches, binary cross-entropy on the logit), one epoch per call."""
    import keras

    from wide_deep.core.config import ModelConfig
    from wide_deep.core.model import build_core

    core = build_core(layout, ModelConfig())
    core.compile(optimizer=keras.optimizers.Adam(1e-4), loss=keras.losses.BinaryCrossentropy(from_logits=True))
    return lambda: core.fit(encoded, labels, batch_size=batch, epochs=1, shuffle=True, verbose=0)


def benchmark() -> None:
    import tempfile

    import tensorflow as tf

    from feature_columns import FeatureSpec
    from feature_columns.fitting import fit_state
    from wide_deep.core.config import ModelConfig, TrainConfig
    from wide_deep.core.trainer import Estimator
    from wide_deep.data import registry
    from wide_deep.data.dataset import load_dataset
    from wide_deep.record.model_dir import ModelDir

    info = registry.resolve(FLAGS.dataset, None, None)
    registry.ensure_generated(info, FLAGS.num_enterprises, 2024)
    spec = FeatureSpec.from_yaml(info.spec)
    train = load_dataset(spec, info.data, log=lambda *_: None).splits["train"]
    state = fit_state(spec, train.arrays)

    def estimator_for(model: ModelConfig):  # what `make train` trains (protected columns out)
        return Estimator(
            ModelDir(tempfile.mkdtemp()).training_files(),
            spec.for_model("wide_deep", use_crosses=True, sequences=model.sequences),
            state,
            model,
            TrainConfig(batch_size=FLAGS.batch_size, deterministic=FLAGS.deterministic),
            log=lambda *_: None,
        )

    estimator = estimator_for(ModelConfig(sequences="aggregates"))  # the paper's model
    encoded = estimator.encode(train.arrays)
    labels = tf.constant(train.labels.astype("float32"))
    n = len(train)
    full = n - n % FLAGS.batch_size
    head = {k: v[:full] for k, v in encoded.items()}
    epoch_counter = iter(range(1, 10_000))
    width = len(estimator.layout.deep_dense_names) + sum(d for _, _, d in estimator.layout.deep_embeddings)
    rows = {
        "pipeline": (n, lambda: estimator.train_epoch(encoded, labels, next(epoch_counter))),
        "core_tight_loop": (full, lambda: float(estimator.steps.full_batches(head, labels[:full]))),
        "mlp_tight_loop": (full, mlp_reference(width, n, FLAGS.batch_size)),
        "keras_model_fit": (n, keras_fit_reference(estimator.layout, encoded, labels, FLAGS.batch_size)),
    }
    for tower in ("gru", "tcn") if spec.sequences else ():  # the spec's sequences through a tower, beside the rest
        towered = estimator_for(ModelConfig(sequences="both", sequence_tower=tower))
        rows[f"pipeline_{tower}"] = (
            n,
            lambda e=towered, x=towered.encode(train.arrays): e.train_epoch(x, labels, next(epoch_counter)),
        )
    timings = {name: [] for name in rows}
    for _, fn in rows.values():
        fn()  # trace and warm up
    for _ in range(FLAGS.repeats):
        for name, (count, fn) in rows.items():
            start = time.perf_counter()
            fn()
            timings[name].append(count / (time.perf_counter() - start))
    print(
        f"dataset {info.name}: {n:,} training rows, batch {FLAGS.batch_size}, deep input width {width}, "
        f"wide columns {len(estimator.layout.wide_segments)}; "
        f"op determinism {'on' if FLAGS.deterministic else 'off'}; {FLAGS.repeats} interleaved repeats"
    )
    print(f"{'row':<18}{'median ex/s':>14}{'min':>12}{'max':>12}")
    for name, values in timings.items():
        print(f"{name:<18}{np.median(values):>14,.0f}{min(values):>12,.0f}{max(values):>12,.0f}")
    print(f"pipeline / core_tight_loop: {np.median(timings['pipeline']) / np.median(timings['core_tight_loop']):.2f}")
    print(f"pipeline / keras_model_fit: {np.median(timings['pipeline']) / np.median(timings['keras_model_fit']):.2f}")
    for tower in ("gru", "tcn") if spec.sequences else ():
        ratio = np.median(timings[f"pipeline_{tower}"]) / np.median(timings["pipeline"])
        print(f"pipeline_{tower} / pipeline (sequence tower, the paper's model): {ratio:.2f}")

    later_sections(info, spec)
    print(f"throughput_ratio: {np.median(timings['pipeline']) / np.median(timings['mlp_tight_loop']):.2f}")


def later_sections(info, spec) -> None:
    """The sections after the training rows: aggregation (and on both engines), default against paper `make train`,
    scaling."""
    if spec.transactions is not None:
        aggregation_rows(info, spec)
        if FLAGS.engines:
            import subprocess
            import sys

            subprocess.run(
                [sys.executable, "-m", "experiments.bench_engines", f"--dataset={FLAGS.dataset}"], check=False
            )
    if FLAGS.train_runs:
        default_vs_paper(info, FLAGS.train_runs)
    sizes = [int(v) for v in FLAGS.scaling_rows if v.strip()]
    if sizes:
        scaling_table(info, spec, sizes)


AGGREGATION_REPEATS = 3


def aggregation_rows(info, spec) -> None:
    """Our transaction aggregation against a plain DuckDB group-by with 9 aggregates over the same log
    (count-distinct days and a regression slope included), interleaved, medians of AGGREGATION_REPEATS."""
    import duckdb

    from wide_deep.data.aggregation import aggregate_transactions
    from wide_deep.data.sequences import bin_transactions
    from wide_deep.data.sources import duckdb_scan, read_table, transactions_path

    tx = spec.transactions
    apps = read_table(info.data)
    log = transactions_path(tx, info.data)
    amount, stamp = f'"{tx.amount_column}"', f'CAST("{tx.timestamp_column}" AS TIMESTAMP)'
    reference_sql = (
        f'SELECT "{tx.id_column}", count(*), sum({amount}), avg({amount}), var_samp({amount}), max({amount}), '
        f"count(DISTINCT CAST({stamp} AS DATE)), min({stamp}), max({stamp}), regr_slope({amount}, epoch({stamp})) "
        f"FROM {duckdb_scan(log, 'transactions')} GROUP BY 1"
    )

    def reference():
        con = duckdb.connect()
        con.execute("SET memory_limit='2GB'; SET threads=2; SET preserve_insertion_order=false")
        con.execute(reference_sql).fetchall()
        con.close()

    rows_in_window = 0

    def ours():
        nonlocal rows_in_window
        rows_in_window = aggregate_transactions(log, apps, tx, spec.id_column)[1].rows_in_window

    log_sequences = spec.log_sequences

    def sequences():  # the spec's time-binned sequences (its `sequences:` block), from the same log
        bin_transactions(log, apps, tx, spec.id_column, log_sequences)

    runs = (("ours", ours), ("duckdb_9_aggregates", reference)) + ((("sequences", sequences),) if log_sequences else ())
    seconds = {name: [] for name, _ in runs}
    for _ in range(AGGREGATION_REPEATS):
        for name, fn in runs:
            start = time.perf_counter()
            fn()
            seconds[name].append(time.perf_counter() - start)
    print(
        f"\naggregation of {rows_in_window:,} transactions (DuckDB, 2 threads, 2 GB memory limit; "
        f"median of {AGGREGATION_REPEATS} interleaved repeats)"
    )
    for name, values in seconds.items():
        print(f"{name:<22}{np.median(values):>8.2f} s{rows_in_window / np.median(values):>14,.0f} rows/s")
    ratio = np.median(seconds["ours"]) / np.median(seconds["duckdb_9_aggregates"])
    print(f"aggregation ours / reference time: {ratio:.2f}")
    if log_sequences:
        shape = ", ".join(f"{q.name} {q.steps} × {len(q.channels)}" for q in log_sequences)
        ratio = np.median(seconds["sequences"]) / np.median(seconds["ours"])
        print(f"sequences ({shape}) / aggregation time: {ratio:.2f}")


PRESET_FIGURES = (  # (what, how it is read from a run: its metrics and the process's wall seconds, format)
    ("test AUC", lambda m, wall: m["auc"], ".4f"),
    ("training examples/s", lambda m, wall: m["train_examples_per_sec"], ",.0f"),
    ("make train wall s (data present)", lambda m, wall: wall, ".1f"),
    ("fitting s (fit_extras .. calibrate)", lambda m, wall: m["fit_seconds"], ".1f"),
    ("  of which network training s", lambda m, wall: m["stage_seconds"]["train_members"], ".1f"),
    ("  of which scorecard refit s", lambda m, wall: m["stage_seconds"]["refit_scorecard"], ".1f"),
    ("evidence s", lambda m, wall: m["evidence_seconds"], ".1f"),
    ("export s", lambda m, wall: m["export_seconds"], ".1f"),
    (
        "(evidence + export) / fitting",
        lambda m, wall: (m["evidence_seconds"] + m["export_seconds"]) / m["fit_seconds"],
        ".2f",
    ),
    ("peak RSS MB", lambda m, wall: m["peak_rss_mb"], ",.0f"),
)


def default_vs_paper(info, repeats: int) -> None:
    """`make train` with the default flags (the accurate preset) beside the paper's model (`--preset=paper`) on the
    same data, each run its own process (interleaved, medians of `repeats`): the figures the default is held to."""
    import subprocess
    import sys
    import tempfile

    from wide_deep.data.registry import PROJECT_ROOT
    from wide_deep.record.model_dir import ModelDir

    figures = {preset: {name: [] for name, _, _ in PRESET_FIGURES} for preset in ("accurate", "paper")}
    for _ in range(repeats):
        for preset in figures:
            with tempfile.TemporaryDirectory() as model_dir:
                args = [sys.executable, "-m", "experiments.train", f"--dataset={info.name}", f"--preset={preset}"]
                started = time.perf_counter()
                proc = subprocess.run(
                    [*args, f"--model_dir={model_dir}"], cwd=PROJECT_ROOT, capture_output=True, text=True
                )
                wall = time.perf_counter() - started
                if proc.returncode:
                    raise RuntimeError(f"make train run failed ({' '.join(args[2:])}):\n{proc.stderr[-3000:]}")
                measured = ModelDir(model_dir).read_metrics()
            for name, read, _ in PRESET_FIGURES:
                figures[preset][name].append(read(measured, wall))
    print(
        f"\nmake train on {info.name}: the default model (accurate preset) beside the paper's (--preset=paper), "
        f"one process per run, median of {repeats} interleaved runs"
    )
    print(f"{'figure':<38}{'default':>12}{'paper':>12}{'default/paper':>15}")
    for name, _, fmt in PRESET_FIGURES:
        ours, paper = (float(np.median(figures[p][name])) for p in ("accurate", "paper"))
        ratio = f"{ours / paper:>15.2f}" if paper >= 0.05 else ""  # no ratio to a stage the paper model skips
        print(f"{name:<38}{ours:>12{fmt}}{paper:>12{fmt}}{ratio}", flush=True)


ROWS_PER_FILE = 25_000


def scaling_files(info, spec, rows: int, root):
    """`rows` training rows as Parquet shards of ROWS_PER_FILE rows (cached), plus the SME valid/test files."""
    import pandas as pd

    from wide_deep.data.shards import SHARDS_FILE, write_shards

    source = root / "sme_shards"
    if not (source / SHARDS_FILE).exists():
        write_shards(spec, info.data, source, num_shards=4, log=lambda *_: None)
    target = root / f"rows_{rows}"
    if not (target / "done").exists():
        target.mkdir(parents=True, exist_ok=True)
        train = pd.concat([pd.read_parquet(f) for f in sorted(source.glob("train-*.parquet"))], ignore_index=True)
        rng = np.random.default_rng(rows)
        for k, start in enumerate(range(0, rows, ROWS_PER_FILE)):
            count = min(ROWS_PER_FILE, rows - start)
            part = train.iloc[rng.integers(0, len(train), count)].copy()
            part[spec.id_column] = np.arange(start, start + count) + 100_000_000  # unique ids
            part.to_parquet(target / f"train-{k:05d}.parquet", index=False)
        (target / "done").touch()
    return str(target / "train-*.parquet"), str(source / "valid.parquet"), str(source / "test.parquet")


def scaling_table(info, spec, sizes) -> None:
    import subprocess
    import sys
    import tempfile

    from wide_deep.data.registry import PROJECT_ROOT, generated_data
    from wide_deep.record.model_dir import ModelDir

    root = generated_data() / "cache/bench"
    print(
        f"\nscaling: `experiments.train` on N training rows (Parquet shards of {ROWS_PER_FILE:,} rows drawn from the "
        f"SME "
        f"training split; valid/test 25,976 rows each), {FLAGS.scaling_epochs} epochs, batch {FLAGS.batch_size}, "
        f"preprocessing fitted on the first file, one process per cell; s/epoch is the median after the first epoch"
    )
    print(
        f"{'rows':>10} | {'in memory: s/epoch':>18}{'s/10k rows':>11}{'peak MB':>9} | "
        f"{'streamed: s/epoch':>17}{'s/10k rows':>11}{'peak MB':>9}"
    )
    for rows in sizes:
        train, valid, test = scaling_files(info, spec, rows, root)
        cells = []
        for streaming in (False, True):
            with tempfile.TemporaryDirectory() as model_dir:
                args = [
                    sys.executable,
                    "-m",
                    "experiments.train",
                    f"--train_data={train}",
                    f"--valid_data={valid}",
                    f"--test_data={test}",
                    "--fit_shards=1",
                    f"--epochs={FLAGS.scaling_epochs}",
                    "--early_stopping_patience=0",
                    "--export=false",
                    "--noevidence",
                    f"--batch_size={FLAGS.batch_size}",
                    f"--model_dir={model_dir}",
                    "--streaming" if streaming else "--nostreaming",
                ]
                proc = subprocess.run(args, cwd=PROJECT_ROOT, capture_output=True, text=True)
                if proc.returncode:
                    raise RuntimeError(f"scaling run failed ({' '.join(args[2:])}):\n{proc.stderr[-3000:]}")
                run = ModelDir(model_dir)
                history = [row["seconds"] for row in run.read_history()]
                peak = run.read_metrics()["peak_rss_mb"]
            seconds = float(np.median(history[1:]))
            cells.append(f"{seconds:>18.2f}{seconds / rows * 10_000:>11.3f}{peak:>9,.0f}")
        print(f"{rows:>10,} | {cells[0]} | {cells[1][1:]}", flush=True)


main, run = command(benchmark)


if __name__ == "__main__":
    run()
