"""The served model shared by the REST tests: a copy of the trained run behind a real HTTP server in this process."""

from __future__ import annotations

import shutil
import threading

import pytest


@pytest.fixture(scope="module")
def served(sme_run, small_sme, tmp_path_factory):
    """A copy of the trained model_dir served over real HTTP by a server thread in this process.

    Yields (port, model_dir, rows, server thread); `tests/experiments/test_serve_cli.py` runs the real CLI.
    """
    from wide_deep.serving.limits import ServerLimits
    from wide_deep.serving.registry import ModelRegistry
    from wide_deep.serving.scoring import example_rows
    from wide_deep.serving.server import free_port, make_server, wait_until_serving

    model_dir = tmp_path_factory.mktemp("served") / "model"
    shutil.copytree(sme_run, model_dir)
    port = free_port()
    registry = ModelRegistry(model_dir, poll_seconds=0.2)
    registry.start()
    server = make_server(registry, port=port, limits=ServerLimits(max_body_bytes=200_000))
    thread = threading.Thread(target=server.run, name="test-server", daemon=True)
    thread.server = server  # served_app reads the app from it
    thread.start()
    wait_until_serving(f"http://127.0.0.1:{port}/v1/models/wide_deep", timeout=60)
    rows = example_rows(model_dir, small_sme / "applications.parquet", 20)[1]
    yield port, model_dir, rows, thread
    server.should_exit = True
    thread.join(timeout=30)
    registry.stop()
