"""`python -m experiments.serve` as a user starts it: a TF-Serving-style REST server on loopback."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys

from tests.conftest import PROJECT_ROOT


def test_the_server_answers_status_predict_and_bad_requests(sme_run, small_sme):
    from wide_deep.serving.scoring import Scorer, example_rows
    from wide_deep.serving.server import free_port, wait_until_serving

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments.serve", f"--model_dir={sme_run}", f"--port={port}"],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/v1/models/wide_deep", timeout=180)
        frame, rows = example_rows(sme_run, small_sme / "applications.parquet", 5)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("POST", "/v1/models/wide_deep:predict", body=json.dumps({"instances": rows}))
        response = connection.getresponse()
        body = json.loads(response.read())
        assert response.status == 200
        expected = Scorer(sme_run).score_frame(frame)["probability"]
        assert [round(p["probability"], 5) for p in body["predictions"]] == [round(float(p), 5) for p in expected]
        connection.request("POST", "/v1/models/wide_deep:predict", body=b"{not json")
        response = connection.getresponse()
        assert response.status == 400 and json.loads(response.read())["field"] == "body"
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    assert process.returncode == 0 and "serving wide_deep version" in output and "stopped" in output
    assert "Traceback" not in output
    # the access log: a line per request with method, path, status and latency (wait_until_serving's GETs too)
    assert '"POST /v1/models/wide_deep:predict" 200 ' in output and '"POST /v1/models/wide_deep:predict" 400 ' in output
    assert '"GET /v1/models/wide_deep" 200 ' in output and " ms\n" in output
