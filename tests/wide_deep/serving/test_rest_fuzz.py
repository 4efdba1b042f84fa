"""Schemathesis drives the live REST server from its own OpenAPI description (`GET /v1/openapi.json`).

Valid and invalid bodies, paths and headers generated from the schema, through the real Schemathesis CLI: no
answer may be a 5xx, every answer must match the schema (every 4xx the JSON error object), and the check in
`fuzz_checks.py` asks every 4xx to name what is wrong. The budget is fixed (examples per operation, a seed) so the
run is the same on every machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

EXAMPLES_PER_OPERATION = 40
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,"
    "error_is_a_json_object_naming_what_is_wrong"
)


def test_fuzzing_the_live_server_finds_no_server_error_and_no_answer_off_the_schema(served, tmp_path):
    port = served[0]
    root = Path(__file__).resolve().parents[3]
    environment = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.wide_deep.serving.fuzz_checks", "PYTHONPATH": str(root)}
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"http://127.0.0.1:{port}/v1/openapi.json",
        "--checks", CHECKS, "--max-examples", str(EXAMPLES_PER_OPERATION), "--seed", "7",
        "--generation-database", "none", "--request-timeout", "60", "--no-color",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated and int(generated[1]) >= 4 * EXAMPLES_PER_OPERATION, result.stdout[-3000:]
    assert int(generated[2]) == int(generated[1]) and "No issues found" in result.stdout, result.stdout[-6000:]
