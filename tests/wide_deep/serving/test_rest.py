"""The REST server over real HTTP on localhost: TF Serving's shapes, validation, concurrency, hot reload."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest


class Client:
    """A keep-alive HTTP client, one per thread. Like any real client it reconnects when the server has closed an
    idle connection (its keep-alive timeout can pass between two requests on a loaded machine)."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def request(self, method: str, path: str, body=None) -> tuple[int, dict]:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
                response = self.connection.getresponse()
                return response.status, json.loads(response.read())
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                if attempt:
                    raise
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        raise AssertionError("unreachable")

    def predict(self, body, model: str = "wide_deep") -> tuple[int, dict]:
        return self.request("POST", f"/v1/models/{model}:predict", body)


def expected_probabilities(model_dir, rows) -> np.ndarray:
    from wide_deep.serving.scoring import Scorer

    return Scorer(model_dir).score_frame(pd.DataFrame(rows).astype({"avg_days_overdue": float}))["probability"]


def test_status_and_metadata(served):
    port, model_dir, _, _ = served
    client = Client(port)
    status, body = client.request("GET", "/v1/models/wide_deep")
    assert status == 200
    [version] = body["model_version_status"]
    assert version["state"] == "AVAILABLE" and version["version"] == sorted((model_dir / "export").iterdir())[-1].name
    status, body = client.request("GET", "/v1/models/wide_deep/metadata")
    signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert status == 200 and body["model_spec"]["name"] == "wide_deep"
    assert (
        signature["inputs"]["city"]["dtype"] == "DT_STRING" and signature["inputs"]["txn_count"]["dtype"] == "DT_FLOAT"
    )
    assert set(signature["outputs"]) == {"probability", "score", "decision", "unseen_categories"}


def test_row_and_columnar_formats_match_the_batch_scorer(served):
    port, model_dir, rows, _ = served
    client = Client(port)
    status, by_rows = client.predict({"instances": rows})
    assert status == 200 and len(by_rows["predictions"]) == len(rows)
    columns = {name: [row[name] for row in rows] for name in rows[0]}
    status, by_columns = client.predict({"inputs": columns})
    assert status == 200
    row_probabilities = [p["probability"] for p in by_rows["predictions"]]
    np.testing.assert_allclose(row_probabilities, by_columns["outputs"]["probability"], rtol=0, atol=1e-7)
    np.testing.assert_allclose(row_probabilities, expected_probabilities(model_dir, rows), atol=1e-6)
    threshold = json.loads((model_dir / "metrics.json").read_text())["threshold"]
    assert [p["decision"] for p in by_rows["predictions"]] == [
        "decline" if p >= threshold else "approve" for p in row_probabilities
    ]
    # whole points, with the exact value beside them
    assert all(p["score"] == round(p["score_exact"]) for p in by_rows["predictions"])
    assert all(p["unseen_categories"] == "" for p in by_rows["predictions"])


def test_classify_answers_tf_servings_classification_format(served):
    """`:classify` takes TF Serving's `examples` (with shared `context`) and returns classes "0" and "1" with their
    probabilities, the same as `:predict`; mistakes name `examples[i]`."""
    port, model_dir, rows, _ = served
    client = Client(port)
    shared = {"city": rows[0]["city"]}
    examples = [{k: v for k, v in row.items() if k != "city"} for row in rows[:3]]
    status, body = client.request("POST", "/v1/models/wide_deep:classify", {"context": shared, "examples": examples})
    assert status == 200 and len(body["results"]) == 3
    expected = expected_probabilities(model_dir, [{**row, **shared} for row in rows[:3]])
    for result, p in zip(body["results"], expected):
        assert [label for label, _ in result] == ["0", "1"] and result[1][1] == pytest.approx(p, abs=1e-6)
        assert result[0][1] + result[1][1] == pytest.approx(1.0)
    status, body = client.request("POST", "/v1/models/wide_deep:classify", {"examples": [{"city": "x"}]})
    assert status == 400 and body["field"].startswith("examples[0].") and "examples[0]" in body["error"]
    status, body = client.request("POST", "/v1/models/wide_deep:classify", {"instances": rows[:1]})
    assert status == 400 and "instances" in body["error"]


def test_the_id_is_echoed_and_declared_unused_columns_are_ignored(served):
    """A row as make predict reads it (id, protected attribute, label) is accepted; only truly unknown fields fail."""
    port, _, rows, _ = served
    client = Client(port)
    full = [dict(row, enterprise_id=f"E{i}", gender="f", label=0, rejected=False) for i, row in enumerate(rows[:2])]
    status, body = client.predict({"instances": full})
    assert status == 200 and [p["enterprise_id"] for p in body["predictions"]] == ["E0", "E1"]
    assert body["ignored_features"] == ["gender", "label", "rejected"]
    _, plain = client.predict({"instances": rows[:2]})
    assert [p["probability"] for p in body["predictions"]] == [p["probability"] for p in plain["predictions"]]
    assert "ignored_features" not in plain and "enterprise_id" not in plain["predictions"][0]
    columns = {name: [row[name] for row in full] for name in full[0]}
    status, by_columns = client.predict({"inputs": columns})
    assert status == 200 and by_columns["outputs"]["enterprise_id"] == ["E0", "E1"]
    status, error = client.predict({"instances": [dict(rows[0], nickname="x")]})
    assert status == 400 and error["field"] == "instances[0].nickname"


def test_serving_explain_answers_with_reason_codes(served):
    """Adverse-action reasons over REST: the features that raised each applicant's risk, with code and text."""
    port, _, rows, _ = served
    client = Client(port)
    status, body = client.predict({"instances": rows[:3], "signature_name": "serving_explain"})
    _, plain = client.predict({"instances": rows[:3]})
    assert status == 200
    for explained, predicted in zip(body["predictions"], plain["predictions"]):
        assert explained["probability"] == pytest.approx(predicted["probability"], abs=1e-6)
        assert explained["reasons"] and all(r["contribution"] > 0 for r in explained["reasons"])
        assert all(
            r["code"].startswith("R") and r["text"].endswith("raised the estimated risk") for r in explained["reasons"]
        )
    status, error = client.predict({"instances": rows[:1], "signature_name": "serving_packed"})
    assert status == 400 and error["field"] == "signature_name" and "serving_explain" in error["expected"]


def test_a_request_may_set_its_own_cutoff(served):
    port, _, rows, _ = served
    client = Client(port)
    _, body = client.predict({"instances": rows, "cutoff": {"probability": 0.5}})
    assert [p["decision"] for p in body["predictions"]] == [
        "decline" if p["probability"] >= 0.5 else "approve" for p in body["predictions"]
    ]
    _, by_score = client.predict({"instances": rows, "cutoff": {"score": 0}})  # decline only at 0 points or fewer
    assert all(p["decision"] == "approve" for p in by_score["predictions"])
    for far, declined in (
        (30_000, "decline"),
        (1e308, "decline"),
        (-30_000, "approve"),
    ):  # beyond the scale: everyone or no one
        status, body = client.predict({"instances": rows, "cutoff": {"score": far}})
        assert status == 200 and {p["decision"] for p in body["predictions"]} == {declined}
    status, error = client.predict({"instances": rows, "cutoff": {"approval": 0.5}})
    assert status == 400 and error["field"] == "cutoff"


def test_unseen_category_is_scored_and_flagged(served):
    port, _, rows, _ = served
    row = dict(rows[0], city="Atlantis", industry_primary="space mining")
    status, body = Client(port).predict({"instances": [row, rows[1]]})
    assert status == 200
    assert body["predictions"][0]["unseen_categories"] == "industry_primary,city"
    assert body["predictions"][1]["unseen_categories"] == ""
    assert 0 < body["predictions"][0]["probability"] < 1


def test_null_means_missing(served):
    port, _, rows, _ = served
    status, body = Client(port).predict({"instances": [dict(rows[0], txn_amount_cv=None, city=None)]})
    assert status == 200 and body["predictions"][0]["unseen_categories"] == ""  # missing is not "unseen"


BAD_REQUESTS = {
    "missing feature": (
        lambda row: {"instances": [{k: v for k, v in row.items() if k != "txn_count"}]},
        400,
        "instances[0].txn_count",
    ),
    "unknown feature": (
        lambda row: {"instances": [dict(row, favourite_colour="red")]},
        400,
        "instances[0].favourite_colour",
    ),
    "string for a number": (lambda row: {"instances": [dict(row, txn_count="ten")]}, 400, "instances[0].txn_count"),
    "bool for a number": (lambda row: {"instances": [dict(row, txn_count=True)]}, 400, "instances[0].txn_count"),
    "object for a category": (lambda row: {"instances": [dict(row, city={"name": "x"})]}, 400, "instances[0].city"),
    "NaN literal": (
        lambda row: json.dumps({"instances": [dict(row, txn_count=float("nan"))]}).encode(),
        400,
        "instances[0].txn_count",
    ),
    "infinity literal": (
        lambda row: json.dumps(
            {"inputs": {k: [v] for k, v in dict(row, txn_mean_amount=float("inf")).items()}}
        ).encode(),
        400,
        "inputs.txn_mean_amount[0]",
    ),
    "list value in a row": (lambda row: {"instances": [dict(row, txn_count=[1, 2])]}, 400, "instances[0].txn_count"),
    "rows not a list": (lambda row: {"instances": row}, 400, "instances"),
    "row not an object": (lambda row: {"instances": [list(row.values())]}, 400, "instances[0]"),
    "empty instances": (lambda row: {"instances": []}, 400, "instances"),
    "ragged columns": (
        lambda row: {"inputs": {k: [v, v] if k != "city" else [v] for k, v in row.items()}},
        400,
        "inputs.city",
    ),
    "both formats": (lambda row: {"instances": [row], "inputs": {}}, 400, "body"),
    "neither format": (lambda row: {"rows": [row]}, 400, "body"),
    "malformed JSON": (lambda row: b'{"instances": [', 400, "body"),
    "not JSON at all": (lambda row: b"\xff\xfe garbage", 400, "body"),
    "JSON array body": (lambda row: [row], 400, "body"),
    "unknown signature": (lambda row: {"signature_name": "classify", "instances": [row]}, 400, "signature_name"),
    "oversized body": (lambda row: {"instances": [row] * 400}, 413, "body"),
    "JSON nested 90,000 deep": (lambda row: b'{"instances": ' + b"[" * 90_000 + b"]" * 90_000 + b"}", 400, "body"),
    "an integer of 400 digits": (
        lambda row: {"instances": [dict(row, txn_count=10**400)]},
        400,
        "instances[0].txn_count",
    ),
    "an integer of 5,000 digits": (lambda row: b'{"instances": [{"txn_count": ' + b"9" * 5000 + b"}]}", 400, "body"),
    "a number beyond float32": (lambda row: {"instances": [dict(row, txn_count=1e39)]}, 400, "instances[0].txn_count"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_request_gets_a_4xx_naming_the_field(served, case):
    port, _, rows, process = served
    make_body, status_expected, field = BAD_REQUESTS[case]
    status, body = Client(port).predict(make_body(rows[0]))
    assert status == status_expected, body
    assert body["field"] == field and body["error"] and "expected" in body
    assert len(json.dumps(body)) < 2000  # nothing of a large value is echoed back
    assert process.is_alive()


def test_a_long_value_is_never_echoed_back(served):
    port, _, rows, _ = served
    status, body = Client(port).predict({"instances": [dict(rows[0], txn_count="x" * 150_000)]})
    assert status == 400 and "150,002 characters" in body["error"] and len(json.dumps(body)) < 600


def test_an_internal_error_is_one_log_line_and_a_500_without_details(served, monkeypatch, caplog):
    port, _, rows, _ = served
    from wide_deep.serving.saved_model import LoadedExport

    def broken(self, columns):
        raise RuntimeError("secret detail\nsecond line")

    monkeypatch.setattr(LoadedExport, "predict_columns", broken)
    with caplog.at_level("ERROR", logger="wide_deep.serving"):
        status, body = Client(port).predict({"instances": rows[:1]})
    assert status == 500 and body == {"error": "internal error (RuntimeError)"}
    records = [r for r in caplog.records if r.name == "wide_deep.serving"]
    assert len(records) == 1 and records[0].exc_info is None and "secret detail" in records[0].getMessage()
    assert "second line" not in records[0].getMessage()


@pytest.mark.parametrize(
    "path, field",
    [
        ("/v1/models/other:predict", "model_name"),
        ("/v1/models/wide_deep/versions/1:predict", "version"),
        ("/v1/models/wide_deep:regress", "path"),
        ("/v2/anything", "path"),
    ],
)
def test_unknown_model_version_or_route_is_404(served, path, field):
    port, _, rows, _ = served
    status, body = Client(port).request("POST", path, {"instances": rows[:1]})
    assert status == 404 and body["field"] == field


def test_eight_concurrent_clients_get_no_errors(served):
    port, _, rows, process = served

    def client_session(seed: int) -> list[int]:
        client, statuses = Client(port), []
        for i in range(25):
            batch = rows[(seed + i) % len(rows) :][: 1 + (i % 3)]
            status, body = client.predict({"instances": batch})
            statuses.append(status if len(body.get("predictions", [])) == len(batch) else -1)
        return statuses

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for result in pool.map(client_session, range(8)) for s in result]
    assert statuses == [200] * 200
    assert process.is_alive()


def test_thirty_two_concurrent_single_row_clients_queue_and_are_batched(served, sme_run):
    """32 clients sending one row at a time: none refused, each answer the model's score for its own row, and
    the rows of concurrent requests scored together (fewer model calls than requests)."""
    port, model_dir, rows, process = served
    expected = expected_probabilities(model_dir, rows)
    batcher = served_app(served).state.endpoints.batcher
    calls_before = batcher.calls

    def client_session(seed: int) -> list[bool]:
        client, right = Client(port), []
        for i in range(15):
            k = (seed * 7 + i) % len(rows)
            status, body = client.predict({"instances": [rows[k]]})
            right.append(status == 200 and abs(body["predictions"][0]["probability"] - expected[k]) < 1e-5)
        return right

    with ThreadPoolExecutor(32) as pool:
        answers = [ok for result in pool.map(client_session, range(32)) for ok in result]
    assert answers == [True] * (32 * 15)
    assert batcher.calls - calls_before < 32 * 15
    assert process.is_alive()


def served_app(served):
    """The Starlette app behind the `served` fixture's server."""
    return served[3].server.config.app


def test_a_body_over_the_limit_sent_whole_gets_413_not_a_reset(served):
    """A client that sends its whole body before reading (no 100-continue) hears the 413, with and without a
    Content-Length; a client that waits for 100-continue hears it before sending."""
    import socket

    port = served[0]
    body = b'{"instances": [' + b"1," * 4_500_000 + b"1]}"  # 9 MB against the fixture's 200 KB limit
    for framing in ("length", "chunked"):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            head = b"POST /v1/models/wide_deep:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            if framing == "length":
                sock.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
            else:
                chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (body[:100_000], body[100_000:]))
                sock.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
            reply = read_reply(sock)
        assert reply.startswith(b"HTTP/1.1 413") and b'"field":"body"' in reply, (framing, reply[:200])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/models/wide_deep:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        assert read_reply(sock).startswith(b"HTTP/1.1 413")


def read_reply(sock) -> bytes:
    """What the server sends until it has sent a whole response or closes."""
    reply = b""
    while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    return reply


def test_the_openapi_description_names_the_models_features(served):
    port, _, rows, _ = served
    status, document = Client(port).request("GET", "/v1/openapi.json")
    assert status == 200 and document["openapi"].startswith("3.1")
    body = document["paths"]["/v1/models/{model}:predict"]["post"]["requestBody"]["content"]["application/json"]
    instance = body["schema"]["properties"]["instances"]["items"]
    assert set(instance["required"]) == set(rows[0]) - {"enterprise_id"}
    assert instance["properties"]["txn_count"]["type"] == ["number", "null"]
    assert "string" in instance["properties"]["city"]["type"]


def test_newer_export_is_picked_up_without_dropping_requests(served):
    """Export a version with threshold 0 (every decision 1) while a client keeps sending requests."""
    port, model_dir, rows, _ = served
    client = Client(port)
    old_version = client.request("GET", "/v1/models/wide_deep")[1]["model_version_status"][0]["version"]
    failures, seen_versions, stop = [], set(), threading.Event()

    def keep_predicting():
        own = Client(port)
        while not stop.is_set():
            status, body = own.predict({"instances": rows[:5]})
            if status != 200:
                failures.append((status, body))

    worker = threading.Thread(target=keep_predicting)
    worker.start()
    try:
        from wide_deep.record.model_dir import ModelDir
        from wide_deep.serving.export import ExportedModel, export_saved_model

        run = ModelDir(model_dir)
        estimator = run.load_estimator(log=lambda *_: None)
        exported = ExportedModel(estimator.serving_model(), estimator.spec, estimator.state, 0.0)
        new_path = export_saved_model(exported, run.export_root)
        client = Client(port)  # the first one may have idled past the server's keep-alive timeout
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            version = client.request("GET", "/v1/models/wide_deep")[1]["model_version_status"][0]["version"]
            seen_versions.add(version)
            if version == new_path.name:
                break
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        stop.set()
        worker.join()
    assert new_path.name in seen_versions and new_path.name != old_version
    assert failures == []
    status, body = client.predict({"instances": rows})
    assert status == 200 and all(p["decision"] == "decline" for p in body["predictions"])
    status, _ = client.request("GET", f"/v1/models/wide_deep/versions/{new_path.name}")
    assert status == 200
