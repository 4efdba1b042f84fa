"""A TensorFlow-Serving-compatible REST server for the exported SavedModel.

Implements the part of the TensorFlow Serving REST API that clients use, so client code
written against it works unchanged against a real TensorFlow Serving:

- `GET  /v1/models/<name>[/versions/<v>]`            model status
- `GET  /v1/models/<name>[/versions/<v>]/metadata`   signature metadata
- `POST /v1/models/<name>[/versions/<v>]:predict`    row (`instances`) or columnar (`inputs`) format

HTTP is Starlette on uvicorn; this module owns only validation, the model lifecycle and
the TF Serving JSON shapes. Every bad request gets a 4xx JSON body
`{"error": ..., "field": ..., "expected": ...}` naming the offending field; TensorFlow is
only ever called with validated tensors.

The newest complete version under `model_dir/export/` is served; a poller loads a newer
version, warms it up, and swaps it in atomically. Requests already running keep the model
object they started with, so a reload drops nothing.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from pathlib import Path

import tensorflow as tf
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from feature_columns.errors import UserError
from feature_columns.inputs import MISSING_CATEGORY, canonical_category
from wide_deep.run.model_dir import ModelDir
from wide_deep.serving.saved_model import PREDICT, LoadedExport

log = logging.getLogger("wide_deep.serving")
DTYPE_NAMES = {tf.string: "DT_STRING", tf.float32: "DT_FLOAT", tf.int64: "DT_INT64"}


class RequestError(Exception):
    """A client mistake: becomes a 4xx JSON response."""

    def __init__(self, status: int, message: str, field: str | None = None, expected: str | None = None):
        super().__init__(message)
        self.status, self.message, self.field, self.expected = status, message, field, expected

    def response(self) -> JSONResponse:
        body = {"error": self.message}
        body.update({k: v for k, v in (("field", self.field), ("expected", self.expected)) if v is not None})
        return JSONResponse(body, status_code=self.status)


# --- the served model --------------------------------------------------------------------


def metadata(model: LoadedExport, name: str) -> dict:
    """TF Serving's `GET .../metadata` body for the served version's `serving_default` signature."""

    def tensor_info(spec: tf.TensorSpec, tensor_name: str) -> dict:
        dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
        return {
            "dtype": DTYPE_NAMES.get(spec.dtype, spec.dtype.name),
            "tensor_shape": {"dim": dims, "unknown_rank": False},
            "name": tensor_name,
        }

    inputs = {n: tensor_info(s, f"{PREDICT}_{n}:0") for n, s in model.input_specs.items()}
    outputs = {n: tensor_info(s, f"StatefulPartitionedCall:{i}") for i, (n, s) in enumerate(model.output_specs.items())}
    signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(model.version)},
        "metadata": {"signature_def": {"signature_def": {PREDICT: signature}}},
    }


def load_version(path: Path) -> LoadedExport:
    model = LoadedExport(path)
    model.warm_up()
    return model


class ModelRegistry:
    """Serves the newest version in `model_dir/export/`; a background poller swaps in newer ones."""

    def __init__(self, model_dir: str | Path, poll_seconds: float = 2.0):
        self.run = ModelDir(model_dir)
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._failed: set[int] = set()
        versions = self.run.export_versions()
        if not versions:
            raise UserError(
                f"{self.run} has no export (expected {self.run.export_root}/<version>/saved_model.pb); "
                f"train with `make train` first"
            )
        self._current = load_version(versions[-1])
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def current(self) -> LoadedExport:
        return self._current  # a plain reference read: requests keep the object they started with

    def reload_if_newer(self) -> bool:
        versions = [v for v in self.run.export_versions() if int(v.name) not in self._failed]
        if not versions or int(versions[-1].name) <= self._current.version:
            return False
        try:
            candidate = load_version(versions[-1])
        except Exception as error:  # a broken export must not take the server down
            self._failed.add(int(versions[-1].name))
            log.error("could not load %s (still serving version %d): %s", versions[-1], self._current.version, error)
            return False
        with self._lock:
            self._current = candidate
        log.warning("now serving version %d from %s", candidate.version, candidate.path)
        return True

    def start(self) -> None:
        def poll():
            while not self._stop.wait(self.poll_seconds):
                self.reload_if_newer()

        self._poller = threading.Thread(target=poll, name="export-poller", daemon=True)
        self._poller.start()

    def stop(self) -> None:
        self._stop.set()


# --- request validation --------------------------------------------------------------------


def _numeric_value(value, field: str) -> float:
    if value is None:
        return float("nan")  # null is a missing value, imputed as in training
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(
            400,
            f"{field}: expected a number (or null for missing), got {type(value).__name__} {value!r}",
            field,
            "number or null",
        )
    if not math.isfinite(value):
        raise RequestError(
            400,
            f"{field}: NaN and infinity are not accepted; send null for a missing value",
            field,
            "finite number or null",
        )
    return float(value)


def _categorical_value(value, field: str) -> str:
    if value is None:
        return MISSING_CATEGORY
    if isinstance(value, (str, int, bool)) or (isinstance(value, float) and math.isfinite(value)):
        return canonical_category(value)
    raise RequestError(
        400,
        f"{field}: expected a string (or a whole number, or null for missing), got {type(value).__name__} {value!r}",
        field,
        "string, integer or null",
    )


def parse_predict_request(body: bytes, model: LoadedExport) -> tuple[dict[str, list], bool]:
    """JSON body → (validated columns, row_format). Raises RequestError on any client mistake."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"malformed JSON body: {error}", "body", "a JSON object") from None
    if not isinstance(payload, dict):
        raise RequestError(
            400,
            f"the body must be a JSON object, got {type(payload).__name__}",
            "body",
            'an object with "instances" or "inputs"',
        )
    signature = payload.get("signature_name", PREDICT)
    if signature != PREDICT:
        raise RequestError(
            400, f"signature_name {signature!r} is not served over REST", "signature_name", f'"{PREDICT}"'
        )
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError(
            400,
            'the body must have exactly one of "instances" (row format) or "inputs" (columnar format)',
            "body",
            '"instances" or "inputs"',
        )
    unknown = sorted(set(payload) - {"instances", "inputs", "signature_name"})
    if unknown:
        raise RequestError(
            400, f"unknown top-level key(s) {unknown}", unknown[0], '"instances" or "inputs", "signature_name"'
        )
    if "instances" in payload:
        return _columns_from_instances(payload["instances"], model), True
    return _columns_from_inputs(payload["inputs"], model), False


def _check_names(names, model: LoadedExport, where: str) -> None:
    missing = [n for n in model.input_specs if n not in names]
    if missing:
        raise RequestError(
            400,
            f"{where}: missing feature '{missing[0]}'"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            + "; send null for a missing value",
            f"{where}.{missing[0]}",
            f"all of {list(model.input_specs)}",
        )
    unknown = [n for n in names if n not in model.input_specs]
    if unknown:
        raise RequestError(
            400,
            f"{where}: unknown feature '{unknown[0]}'",
            f"{where}.{unknown[0]}",
            f"only features of the model: {list(model.input_specs)}",
        )


def _convert(name: str, values: list, fields: list[str], model: LoadedExport) -> list:
    convert = _categorical_value if model.input_specs[name].dtype == tf.string else _numeric_value
    out = []
    for value, field in zip(values, fields):
        if isinstance(value, (list, dict)):
            raise RequestError(
                400,
                f"{field}: expected a scalar, got a {'list' if isinstance(value, list) else 'object'}",
                field,
                "one scalar value per feature per row",
            )
        out.append(convert(value, field))
    return out


def _columns_from_instances(instances, model: LoadedExport) -> dict[str, list]:
    if not isinstance(instances, list) or not instances:
        raise RequestError(
            400,
            '"instances" must be a non-empty list of objects (one per row)',
            "instances",
            "a non-empty list of objects",
        )
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise RequestError(
                400,
                f"instances[{i}]: expected an object of named features, got {type(row).__name__}",
                f"instances[{i}]",
                "an object mapping feature name to value",
            )
        _check_names(row, model, f"instances[{i}]")
    return {
        name: _convert(
            name, [row[name] for row in instances], [f"instances[{i}].{name}" for i in range(len(instances))], model
        )
        for name in model.input_specs
    }


def _columns_from_inputs(inputs, model: LoadedExport) -> dict[str, list]:
    if not isinstance(inputs, dict):
        raise RequestError(
            400,
            '"inputs" must be an object mapping each feature to a list of values',
            "inputs",
            "an object of equal-length lists",
        )
    _check_names(inputs, model, "inputs")
    scalars = [n for n, v in inputs.items() if not isinstance(v, list)]
    if scalars and len(scalars) < len(inputs):
        raise RequestError(
            400,
            f"inputs.{scalars[0]}: a scalar among lists; give every feature a list of the same length",
            f"inputs.{scalars[0]}",
            "a list",
        )
    columns = {n: ([v] if scalars else v) for n, v in inputs.items()}
    lengths = {n: len(v) for n, v in columns.items()}
    first = next(iter(model.input_specs))
    if lengths[first] == 0:
        raise RequestError(400, f"inputs.{first}: empty list", f"inputs.{first}", "at least one row")
    for name, length in lengths.items():
        if length != lengths[first]:
            raise RequestError(
                400,
                f"inputs.{name}: {length} values but inputs.{first} has {lengths[first]}",
                f"inputs.{name}",
                f"a list of {lengths[first]} values",
            )
    return {
        name: _convert(name, columns[name], [f"inputs.{name}[{i}]" for i in range(lengths[first])], model)
        for name in model.input_specs
    }


def format_predictions(outputs: dict[str, list], row_format: bool) -> dict:
    """TF Serving's response shapes: a list of per-row objects, or an object of per-output lists."""
    if not row_format:
        return {"outputs": outputs}
    names = list(outputs)
    return {"predictions": [dict(zip(names, values)) for values in zip(*(outputs[n] for n in names))]}


# --- HTTP ------------------------------------------------------------------------------------


def create_app(registry: ModelRegistry, model_name: str = "wide_deep", max_body_bytes: int = 8 << 20) -> Starlette:
    """The Starlette app; `registry` supplies the current model on every request."""

    def resolve(path: str) -> tuple[LoadedExport, str]:
        """'<name>[/versions/<v>][:verb|/metadata]' → (model, verb); 404 for an unknown name or version."""
        verb = ""
        if ":" in path:
            path, verb = path.rsplit(":", 1)
        elif path.endswith("/metadata"):
            path, verb = path[: -len("/metadata")], "metadata"
        name, _, version = path.partition("/versions/")
        model = registry.current
        if name != model_name:
            raise RequestError(
                404,
                f"Servable not found for request: model '{name}' is not served (this server serves '{model_name}')",
                "model_name",
                model_name,
            )
        if version and version != str(model.version):
            raise RequestError(
                404,
                f"Servable not found for request: version {version} of '{name}' is not loaded "
                f"(serving version {model.version})",
                "version",
                str(model.version),
            )
        return model, verb

    async def get_model(request: Request) -> Response:
        try:
            model, verb = resolve(request.path_params["path"])
            if verb == "metadata":
                return JSONResponse(metadata(model, model_name))
            if verb:
                raise RequestError(
                    404, f"unknown resource ':{verb}' for GET", "path", "GET /v1/models/<name>[/metadata]"
                )
            return JSONResponse(
                {
                    "model_version_status": [
                        {
                            "version": str(model.version),
                            "state": "AVAILABLE",
                            "status": {"error_code": "OK", "error_message": ""},
                        }
                    ]
                }
            )
        except RequestError as error:
            return error.response()

    async def post_model(request: Request) -> Response:
        try:
            model, verb = resolve(request.path_params["path"])
            if verb != "predict":
                raise RequestError(
                    404,
                    f"unsupported method ':{verb}'; this server implements ':predict'",
                    "path",
                    "POST /v1/models/<name>:predict",
                )
            body = await _read_body(request, max_body_bytes)
            return JSONResponse(await run_in_threadpool(_predict, model, body))
        except RequestError as error:
            return error.response()

    async def not_found(request: Request, exc) -> Response:
        return RequestError(
            404,
            f"no such resource: {request.method} {request.url.path}",
            "path",
            "/v1/models/<name>[:predict|/metadata]",
        ).response()

    async def server_error(request: Request, exc) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error: {exc}"}, status_code=500)

    routes = [
        Route("/v1/models/{path:path}", get_model, methods=["GET"]),
        Route("/v1/models/{path:path}", post_model, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found, Exception: server_error})


def _predict(model: LoadedExport, body: bytes) -> dict:
    columns, row_format = parse_predict_request(body, model)
    return format_predictions(model.predict_columns(columns), row_format)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(
            413,
            f"request body of {int(declared):,} bytes exceeds the limit of {limit:,} bytes",
            "body",
            f"at most {limit:,} bytes (split the batch)",
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(
                413,
                f"request body exceeds the limit of {limit:,} bytes",
                "body",
                f"at most {limit:,} bytes (split the batch)",
            )
        chunks.append(chunk)
    return b"".join(chunks)


def make_server(
    registry: ModelRegistry,
    model_name: str = "wide_deep",
    host: str = "127.0.0.1",
    port: int = 8501,
    max_body_bytes: int = 8 << 20,
):
    """The uvicorn server for `registry` (not started): `server.run()` serves until `server.should_exit`."""
    import uvicorn

    config = uvicorn.Config(
        create_app(registry, model_name, max_body_bytes),
        host=host,
        port=port,
        log_level="warning",
        http="httptools",
        loop="uvloop",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
    )
    return uvicorn.Server(config)


def serve(
    model_dir: str | Path,
    model_name: str = "wide_deep",
    host: str = "127.0.0.1",
    port: int = 8501,
    poll_seconds: float = 2.0,
    max_body_bytes: int = 8 << 20,
) -> None:
    """Load the newest export and serve it until interrupted."""
    registry = ModelRegistry(model_dir, poll_seconds)
    registry.start()
    print(
        f"serving {model_name} version {registry.current.version} from {registry.current.path} "
        f"on http://{host}:{port}/v1/models/{model_name}",
        flush=True,
    )
    try:
        make_server(registry, model_name, host, port, max_body_bytes).run()
    except KeyboardInterrupt:  # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal
        print("stopped", flush=True)
    finally:
        registry.stop()


def free_port() -> int:
    """A currently unused loopback port (tests and the benchmark start servers on one)."""
    import socket

    with socket.socket() as sock:
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
