"""The REST server's limits, one object shared by the HTTP layer (`server`) and the app (`rest`)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class ServerLimits:
    """What a client may send and how much the server holds at once.

    Admission is by memory, not by a count of requests: a request is admitted while the bodies already admitted
    (their Content-Length, or `max_body_bytes` when it is not declared) total at most `max_queued_bytes`, so
    thousands of single-row requests queue while a few large ones are refused with 503. Admitted requests are
    parsed `max_inflight` at a time, and their rows scored together: concurrent requests of up to
    `max_batch_rows` rows in all become one model call.
    """

    max_body_bytes: int = 8 << 20
    header_timeout: float = 10.0  # seconds to send a request's line and headers
    body_timeout: float = 30.0  # seconds to send its body
    keep_alive: int = 5  # seconds an idle keep-alive connection stays open
    max_header_bytes: int = 16 << 10
    max_connections: int = 256
    max_inflight: int = 2  # requests parsed, and batches scored, at once (one per core here)
    max_queued_bytes: int = 32 << 20  # request bodies admitted at once; beyond: 503
    max_batch_rows: int = 256  # concurrent requests merged into one model call up to this many rows
