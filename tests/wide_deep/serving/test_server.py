"""The server under hostile clients: header and body timeouts, a header size limit, a connection cap, 503 when busy."""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from wide_deep.serving.limits import ServerLimits
from wide_deep.serving.registry import ModelRegistry
from wide_deep.serving.server import free_port, make_server, wait_until_serving

LIMITS = ServerLimits(
    header_timeout=0.5,
    body_timeout=0.5,
    keep_alive=1,
    max_header_bytes=2048,
    max_connections=6,
    max_inflight=1,
    max_queued_bytes=100_000,
)


@pytest.fixture(scope="module")
def server(sme_run, small_sme, tmp_path_factory):
    from wide_deep.serving.scoring import example_rows

    model_dir = tmp_path_factory.mktemp("hostile") / "model"
    shutil.copytree(sme_run, model_dir)
    port = free_port()
    registry = ModelRegistry(model_dir, poll_seconds=60)
    server = make_server(registry, port=port, limits=LIMITS)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_serving(f"http://127.0.0.1:{port}/v1/models/wide_deep", timeout=60)
    yield port, example_rows(model_dir, small_sme / "applications.parquet", 200)[1]
    server.should_exit = True
    thread.join(timeout=30)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=5)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes the connection (after sending whatever it sends) within `seconds`."""
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def status_ok(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/v1/models/wide_deep")
    return connection.getresponse().status == 200


def test_idle_and_slow_header_connections_are_closed(server):
    port, _ = server
    idle = connect(port)
    assert closed_within(idle, 3)
    slow = connect(port)
    slow.sendall(b"POST /v1/models/wide_deep:predict HTTP/1.1\r\nHost: x\r\n")  # and never the rest
    assert closed_within(slow, 3)
    assert status_ok(port)


def test_a_body_shorter_than_its_content_length_times_out_with_408(server):
    port, _ = server
    sock = connect(port)
    sock.sendall(
        b"POST /v1/models/wide_deep:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 1000\r\n\r\n{"instances"'
    )
    sock.settimeout(5)
    reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 408") and b'"field":"body"' in reply


def test_oversized_headers_get_431(server):
    port, _ = server
    sock = connect(port)
    sock.sendall(b"GET /v1/models/wide_deep HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 4000 + b"\r\n\r\n")
    sock.settimeout(5)
    assert sock.recv(65536).startswith(b"HTTP/1.1 431")
    assert status_ok(port)


def test_connections_beyond_the_cap_are_closed_and_the_server_recovers(server):
    port, _ = server
    held = [connect(port) for _ in range(12)]
    time.sleep(0.3)
    refused = sum(closed_within(sock, 0.2) for sock in held)
    assert refused >= 12 - LIMITS.max_connections
    for sock in held:
        sock.close()
    time.sleep(0.2)
    assert status_ok(port)


def test_requests_beyond_the_byte_budget_get_503_and_the_rest_succeed(server):
    port, rows = server
    body = json.dumps({"instances": rows * 15})  # ~3,000 rows: long enough to overlap

    def post(_):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("POST", "/v1/models/wide_deep:predict", body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(post, range(6)))
    statuses = sorted(status for status, _ in results)
    assert 503 in statuses and 200 in statuses and set(statuses) <= {200, 503}
    busy = next(body for status, body in results if status == 503)
    assert "busy" in busy["error"]
    assert status_ok(port)


def test_free_ports_lie_below_the_ephemeral_range_and_can_be_bound():
    """Outgoing connections draw their local ports from the ephemeral range: a server port chosen there could be
    taken by any client between choosing and binding it (a multi-worker test once failed so)."""
    import socket

    from wide_deep.serving.server import LISTEN_PORTS, free_port

    ports = {free_port() for _ in range(20)}
    assert all(LISTEN_PORTS[0] <= p < LISTEN_PORTS[1] for p in ports) and len(ports) > 1
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))
