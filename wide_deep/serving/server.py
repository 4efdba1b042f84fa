"""The HTTP server behind `make serve`: uvicorn (httptools, uvloop) with limits a hostile client cannot exhaust.

uvicorn closes idle keep-alive connections but has no limit on slow or oversized headers, and
accepts any number of connections. `GuardedProtocol` adds, per connection:

- a header timeout: a connection that has not finished sending a request's headers within
  `header_timeout` seconds (an idle new connection, or a slowloris trickling headers) is closed;
- a header size limit: more than `max_header_bytes` of request line and headers is answered
  431 and the connection closed;
- a connection cap: beyond `max_connections` open connections a new one is closed at once.

The body's own timeout, the request size limit, admission by memory and the batching of
concurrent requests are in the app (`wide_deep.serving.rest.create_app`); the limits are
`wide_deep.serving.limits.ServerLimits`.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from pathlib import Path

from wide_deep.serving.limits import ServerLimits
from wide_deep.serving.registry import ModelRegistry
from wide_deep.serving.rest import create_app

log = logging.getLogger("wide_deep.serving")


class _HeaderGuard:
    """What `guarded_protocol` adds to uvicorn's httptools protocol (mixed in before it): a connection cap, a
    timeout for the request line and headers, and a size limit on them (431). `limits` and `response_431` are
    set on the class `guarded_protocol` makes."""

    limits: ServerLimits
    response_431: bytes

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.header_bytes, self.awaiting_headers, self.header_timer, self.tail = 0, True, None, b""
        if len(self.connections) > self.limits.max_connections:
            log.warning(
                "connection refused: %d connections are open (limit %d)",
                len(self.connections),
                self.limits.max_connections,
            )
            transport.close()
            return
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(self.limits.header_timeout, self._header_timeout)

    def _disarm_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _header_timeout(self) -> None:
        self.header_timer = None
        if self.awaiting_headers and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.awaiting_headers:  # count the bytes up to the blank line that ends the headers
            window = self.tail + data
            end = window.find(b"\r\n\r\n")
            self.header_bytes += len(data) if end < 0 else max(0, end + 4 - len(self.tail))
            self.tail = window[-3:]
            if self.header_bytes > self.limits.max_header_bytes:
                self.transport.write(self.response_431)
                self.transport.close()
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        self._arm_header_timer()
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self.awaiting_headers = False
        self._disarm_header_timer()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self.awaiting_headers, self.header_bytes, self.tail = True, 0, b""  # the next request's, on keep-alive
        super().on_response_complete()

    def connection_lost(self, exc) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)


def guarded_protocol(limits: ServerLimits):
    """uvicorn's httptools protocol with a header timeout, a header size limit (431) and a connection cap."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    too_large = json.dumps(
        {
            "error": f"request line and headers exceed {limits.max_header_bytes:,} bytes",
            "field": "headers",
            "expected": f"at most {limits.max_header_bytes:,} bytes",
        }
    ).encode()
    response_431 = (
        b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
        b"connection: close\r\ncontent-length: " + str(len(too_large)).encode() + b"\r\n\r\n" + too_large
    )
    return type("GuardedProtocol", (_HeaderGuard, HttpToolsProtocol), {"limits": limits, "response_431": response_431})


class AccessLog:
    """ASGI middleware: one line per request, `client "METHOD path" status latency`, written to `stream`."""

    def __init__(self, app, stream=None):
        self.app, self.stream = app, stream

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [0]

        async def send_noting_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            client = (scope.get("client") or ("-",))[0]
            elapsed = (time.perf_counter() - start) * 1000
            line = f'{client} "{scope["method"]} {scope["path"]}" {status[0] or "-"} {elapsed:.1f} ms\n'
            stream = self.stream or sys.stdout
            stream.write(line)
            stream.flush()


def make_server(
    registry: ModelRegistry,
    model_name: str = "wide_deep",
    host: str = "127.0.0.1",
    port: int = 8501,
    limits: ServerLimits = ServerLimits(),
    access_log: bool = False,
    reason_codes: str | None = None,
):
    """The uvicorn server for `registry` (not started): `server.run()` serves until `server.should_exit`;
    with `access_log`, a line per request on stdout."""
    import uvicorn

    app = create_app(registry, model_name, limits, reason_codes)
    if access_log:
        app = AccessLog(app)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        http=guarded_protocol(limits),
        loop="uvloop" if importlib.util.find_spec("uvloop") else "asyncio",  # uvloop: optional, faster
        timeout_keep_alive=limits.keep_alive,
        timeout_graceful_shutdown=10,
        access_log=False,
    )
    return uvicorn.Server(config)


def serve(
    model_dir: str | Path,
    model_name: str = "wide_deep",
    host: str = "127.0.0.1",
    port: int = 8501,
    poll_seconds: float = 2.0,
    limits: ServerLimits = ServerLimits(),
    access_log: bool = True,
    reason_codes: str | None = None,
) -> None:
    """Load the newest loadable export and serve it until interrupted."""
    import time

    started = time.perf_counter()
    print(
        f"loading the newest export of {model_dir} and warming it up (TensorFlow traces each signature once)",
        flush=True,
    )
    registry = ModelRegistry(model_dir, poll_seconds)
    registry.start()
    print(f"loaded and warmed up in {time.perf_counter() - started:.0f} s", flush=True)
    print(
        f"serving {model_name} version {registry.current.version} from {registry.current.path} "
        f"on http://{host}:{port}/v1/models/{model_name}",
        flush=True,
    )
    try:
        make_server(registry, model_name, host, port, limits, access_log, reason_codes).run()
    except KeyboardInterrupt:  # uvicorn shuts down gracefully on Ctrl-C, then (usually) re-raises the signal
        pass
    finally:
        registry.stop()
        print("stopped", flush=True)


LISTEN_PORTS = (10_000, 32_768)  # below Linux's default ephemeral range (32768-60999): see `free_port`


def free_port() -> int:
    """A currently unused loopback port below the ephemeral range (tests and the benchmark start servers on one).

    A port the kernel hands out for bind(0) comes from the ephemeral range, the range it also draws the local
    ports of outgoing connections from: between choosing the port and the server binding it, any client on the
    machine (a test making thousands of REST requests, a worker of a cluster retrying its connection) may take
    it. A port outside that range is taken only by another server."""
    import random
    import socket

    low, high = LISTEN_PORTS
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        high = min(high, ephemeral_low)
    except (OSError, ValueError, IndexError):  # not Linux: the default range's bound
        pass
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(low, high)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # every try was taken: any port the kernel gives
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(url: str, timeout: float = 120.0) -> None:
    """Block until `url` answers 200 (tests and the benchmark start the server as a subprocess)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)
