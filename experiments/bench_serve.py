"""Serving benchmark: `make bench-serve [MODEL_DIR=runs/default] [FLAGS=--scoring_rows=10000000]`.

Rows of the printed table (latencies in ms, medians and 99th percentiles of repeated calls):
- in_process_single_row: one validated row through the loaded SavedModel, as the server does it
  (the packed signature), and through the plain `serving_default` signature for reference;
- rest_single_row / rest_batch_100: `POST :predict` to `experiments.serve` on loopback from a
  keep-alive client in this process (JSON encoding, HTTP, validation, model and response);
- rest_single_row_32_clients: 32 concurrent keep-alive clients sending single rows for `--load_seconds`
  (the server batches concurrent requests); refused (503) and failed requests are counted;
- server memory: the server's RSS at start, at the peak of 32 concurrent 5 MB requests and 5 s after;
- batch_scoring: `experiments.predict` in a subprocess over a Parquet file of `--scoring_rows`
  rows (real applications with their aggregated features, repeated), rows/s and peak RSS;
- raw_scoring: the same over the raw applications of `--data`, whose transaction features are
  aggregated from the raw log on the way (specs with a transactions block only).

`--compare_model_dirs` measures the in-process and batch rows of other model_dirs in the same
run and prints them beside the first (`make bench-serve` compares the default model with the paper's,
trained with `--preset=paper`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from absl import flags

from experiments.cli import command

flags.DEFINE_string("model_dir", "runs/default", "Trained model_dir with an export")
flags.DEFINE_string(
    "data", "data/sme/applications.parquet", "Applications whose rows are scored (with their transactions)"
)
flags.DEFINE_integer("requests", 2000, "Single-row calls per latency row", lower_bound=10)
flags.DEFINE_float("load_seconds", 30.0, "Seconds of the concurrent single-row clients' row", lower_bound=1.0)
flags.DEFINE_integer("scoring_rows", 1_000_000, "Rows in the batch-scoring file", lower_bound=1000)
flags.DEFINE_list(
    "compare_model_dirs",
    None,
    "Other trained model_dirs (e.g. without the GBDT wide branch) whose in-process and batch rows are measured "
    "in the same run and printed beside --model_dir's",
)
FLAGS = flags.FLAGS


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 99))


def timed(fn, repeats: int) -> list[float]:
    for _ in range(min(50, repeats)):
        fn()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


LOAD_CLIENTS = 32


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def concurrent_single_rows(port: int, bodies: list[bytes], seconds: float) -> dict:
    """LOAD_CLIENTS clients, each on its own keep-alive connection, sending single-row requests back to back for
    `seconds`: latency percentiles and every answer that was not a 200 (refused 503s, other statuses, failures)."""
    import http.client
    import threading

    latencies, statuses, failures, lock = [], [], [0], threading.Lock()
    deadline = time.perf_counter() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        k = index
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            try:
                connection.request(
                    "POST", "/v1/models/wide_deep:predict", body=bodies[k % len(bodies)],
                    headers={"Content-Type": "application/json"},
                )  # fmt: skip
                response = connection.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    failures[0] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                continue
            with lock:
                latencies.append(time.perf_counter() - start)
                statuses.append(response.status)
            k += LOAD_CLIENTS

    threads = [threading.Thread(target=client, args=(n,)) for n in range(LOAD_CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "latency": (*percentiles(latencies), "ms"),
        "requests": len(statuses) + failures[0],
        "refused": statuses.count(503),
        "failed": failures[0] + sum(status not in (200, 503) for status in statuses),
        "per_second": len(statuses) / seconds,
    }


def memory_under_load(pid: int, port: int, rows: list[dict], body_bytes: int = 5_000_000) -> dict:
    """The server's RSS before, at the peak of and 5 s after LOAD_CLIENTS concurrent large requests (the admission
    limit answers the excess 503 at once; memory must come back near where it started)."""
    import http.client
    import threading
    from concurrent.futures import ThreadPoolExecutor

    row_bytes = len(json.dumps(rows[0])) + 2
    body = json.dumps({"instances": (rows * (body_bytes // row_bytes // len(rows) + 1))[: body_bytes // row_bytes]})
    before, peak, stop = rss_mb(pid), [0.0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            time.sleep(0.05)

    def post(_):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        connection.request("POST", "/v1/models/wide_deep:predict", body=body)
        response = connection.getresponse()
        response.read()
        return response.status

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        statuses = list(pool.map(post, range(LOAD_CLIENTS)))
    time.sleep(5)
    stop.set()
    sampler.join()
    return {
        "body_mb": len(body) / 1e6,
        "rss_before_mb": before,
        "rss_peak_mb": peak[0],
        "rss_after_mb": rss_mb(pid),
        "ok": statuses.count(200),
        "busy": statuses.count(503),
        "other": len(statuses) - statuses.count(200) - statuses.count(503),
    }


def in_process_rows(model_dir: Path) -> dict:
    """Latency of one model in this process, and batch scoring in a subprocess: {row: (p50, p99, unit)}."""
    import tensorflow as tf

    from wide_deep.serving.registry import ModelRegistry
    from wide_deep.serving.rest import parse_predict_request
    from wide_deep.serving.scoring import example_rows

    model = ModelRegistry(model_dir).current  # errors clearly when there is no export
    frame, rows = example_rows(model_dir, Path(FLAGS.data), 2000)
    columns = [parse_predict_request(json.dumps({"instances": [row]}).encode(), model)[0] for row in rows]
    i = iter(range(10**9))
    table = {
        "in_process_single_row": (
            *percentiles(timed(lambda: model.predict_columns(columns[next(i) % len(columns)]), FLAGS.requests)),
            "ms",
        )
    }
    tensors = [{n: tf.constant(c[n], model.input_specs[n].dtype) for n in model.input_specs} for c in columns[:200]]
    table["in_process_signature_default"] = (
        *percentiles(timed(lambda: model.call(model.signature, tensors[next(i) % 200]), FLAGS.requests)),
        "ms",
    )
    rate, rss = batch_scoring(model_dir, frame)
    table["batch_scoring_rows_per_s"] = (rate, float("nan"), "rows/s")
    table["batch_scoring_peak_rss_mb"] = (rss, float("nan"), "MB")
    raw = raw_scoring(model_dir)
    if raw is not None:
        table["raw_scoring_rows_per_s"] = (raw[0], float("nan"), "rows/s")
        table["raw_scoring_peak_rss_mb"] = (raw[1], float("nan"), "MB")
    return {"version": model.version, "features": len(model.input_specs), "rows": rows, "table": table}


def predict_rate(model_dir: Path, input_path: Path, output_dir: str, transactions: Path | None = None):
    """`experiments.predict` in a subprocess: (rows/s, peak RSS MB) from its log."""
    command = [
        sys.executable,
        "-m",
        "experiments.predict",
        f"--model_dir={model_dir}",
        f"--input={input_path}",
        f"--output={Path(output_dir) / 'scores.parquet'}",
    ]
    if transactions is not None:
        command.append(f"--transactions={transactions}")
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    rate = float(re.search(r"\(([\d,]+) rows/s\)", proc.stdout).group(1).replace(",", ""))
    rss = float(re.search(r"peak RSS ([\d,]+) MB", proc.stdout).group(1).replace(",", ""))
    return rate, rss


def batch_scoring(model_dir: Path, frame) -> tuple[float, float]:
    """`experiments.predict` over `--scoring_rows` rows with their aggregated features: (rows/s, peak RSS MB)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with tempfile.TemporaryDirectory() as tmp:
        source = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
        path = Path(tmp) / "to_score.parquet"
        with pq.ParquetWriter(path, source.schema) as writer:
            written = 0
            while written < FLAGS.scoring_rows:
                chunk = pa.concat_tables([source] * 50).slice(0, FLAGS.scoring_rows - written)
                writer.write_table(chunk)
                written += chunk.num_rows
        return predict_rate(model_dir, path, tmp)


def raw_scoring(model_dir: Path) -> tuple[float, float] | None:
    """`experiments.predict` over the raw applications of `--data`, aggregating their transaction log
    (None when the model's spec aggregates no transactions)."""
    from wide_deep.serving.scoring import Scorer

    log = Scorer(model_dir, log=lambda *_: None).transactions_for(Path(FLAGS.data))
    if log is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        return predict_rate(model_dir, Path(FLAGS.data), tmp, log)


def rest_rows(model_dir: Path, rows: list[dict]) -> tuple[dict, int, dict]:
    """`experiments.serve` on loopback: single-row and 100-row latencies, failed requests, memory under load."""
    import http.client

    from wide_deep.serving.server import free_port, wait_until_serving

    bodies = [json.dumps({"instances": [row]}).encode() for row in rows]
    i = iter(range(10**9))
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "experiments.serve", f"--model_dir={model_dir}", f"--port={port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/v1/models/wide_deep", timeout=180)
        connection = http.client.HTTPConnection("127.0.0.1", port)
        failures = 0

        def post(body: bytes) -> None:
            nonlocal failures
            connection.request(
                "POST", "/v1/models/wide_deep:predict", body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            response.read()
            failures += response.status != 200

        single = timed(lambda: post(bodies[next(i) % len(bodies)]), FLAGS.requests)
        table = {"rest_single_row": (*percentiles(single), "ms")}
        batches = [json.dumps({"instances": rows[k : k + 100]}).encode() for k in range(0, max(len(rows) - 99, 1), 100)]
        table["rest_batch_100"] = (
            *percentiles(timed(lambda: post(batches[next(i) % len(batches)]), max(50, FLAGS.requests // 10))),
            "ms",
        )
        load = concurrent_single_rows(port, bodies, FLAGS.load_seconds)
        table[f"rest_single_row_{LOAD_CLIENTS}_clients"] = load.pop("latency")
        memory = {**memory_under_load(server.pid, port, rows), "load": load}
    finally:
        server.terminate()
        server.wait(timeout=30)
    return table, failures, memory


def benchmark() -> None:
    model_dir = Path(FLAGS.model_dir)
    primary = in_process_rows(model_dir)
    rest, failures, memory = rest_rows(model_dir, primary["rows"])
    print(f"\nserving benchmark: {model_dir} version {primary['version']}, {primary['features']} raw features")
    print(f"{'row':<32}{'p50':>10}{'p99':>10}  unit")
    for name, (p50, p99, unit) in {**primary["table"], **rest}.items():
        print(f"{name:<32}{p50:>10,.3f}{p99:>10,.3f}  {unit}")
    print(f"{'rest_failed_requests':<32}{failures:>10}")
    print(f"{'batch_scoring_rows':<32}{FLAGS.scoring_rows:>10,}")
    load = memory["load"]
    print(
        f"\n{LOAD_CLIENTS} concurrent single-row clients for {FLAGS.load_seconds:.0f} s: {load['requests']:,} requests "
        f"({load['per_second']:,.0f}/s answered), {load['refused']} refused (503), {load['failed']} failed"
    )
    print(
        f"\nserver memory under {LOAD_CLIENTS} concurrent requests of {memory['body_mb']:.1f} MB each "
        f"(the server's RSS, sampled every 50 ms):"
    )
    for key in ("rss_before_mb", "rss_peak_mb", "rss_after_mb"):
        print(f"{key:<32}{memory[key]:>10,.0f}")
    print(f"{'responses_200 / 503 / other':<32}{memory['ok']:>10} / {memory['busy']} / {memory['other']}")
    for other in FLAGS.compare_model_dirs or []:
        compared = in_process_rows(Path(other))
        print(f"\nthe same rows, {model_dir} (a) beside {other} (b) in this run; medians (p50)")
        print(f"{'row':<32}{'a':>12}{'b':>12}{'a / b':>8}  unit")
        for name, (p50, _, unit) in primary["table"].items():
            theirs = compared["table"][name][0]
            print(f"{name:<32}{p50:>12,.3f}{theirs:>12,.3f}{p50 / theirs:>8.2f}  {unit}")


main, run = command(benchmark)


if __name__ == "__main__":
    run()
