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

import numpy as np
import tensorflow as tf
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from feature_columns.errors import UserError
from feature_columns.fitting import MISSING_CATEGORY, canonical_category
from feature_columns.spec import FeatureSpec
from wide_deep.export import PACKED_COLUMNS_FILE, SIDECAR_DIR, export_versions

log = logging.getLogger("wide_deep.serving")

PREDICT_SIGNATURE = "serving_default"
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


# --- one loaded version --------------------------------------------------------------------

class LoadedModel:
    """One SavedModel version and what validation needs to know about its raw inputs."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.version = int(self.path.name)
        self.saved_model = tf.saved_model.load(str(self.path))
        self.signature = self.saved_model.signatures[PREDICT_SIGNATURE]
        self.input_specs: dict[str, tf.TensorSpec] = dict(self.signature.structured_input_signature[1])
        spec_file = self.path / SIDECAR_DIR / "spec.yaml"
        if spec_file.exists():  # list features in the spec's order in metadata and error messages
            order = [c.name for c in FeatureSpec.from_yaml(spec_file).input_columns]
            names = [n for n in order if n in self.input_specs] + [n for n in self.input_specs if n not in order]
            self.input_specs = {n: self.input_specs[n] for n in names}
        self.categorical = [n for n, s in self.input_specs.items() if s.dtype == tf.string]
        self.numeric = [n for n, s in self.input_specs.items() if s.dtype != tf.string]
        # the packed signature (one string and one float matrix) avoids per-input call overhead
        self.packed, packed_columns = None, self.path / SIDECAR_DIR / PACKED_COLUMNS_FILE
        if "serving_packed" in self.saved_model.signatures and packed_columns.exists():
            order = json.loads(packed_columns.read_text())
            self.categorical, self.numeric = order["categorical"], order["numeric"]
            self.packed = self.saved_model.signatures["serving_packed"]
        self.output_specs = self.signature.structured_outputs
        self.predict(self.example_columns())  # warm up: trace and allocate before taking traffic

    def example_columns(self) -> dict[str, list]:
        return {n: [MISSING_CATEGORY] for n in self.categorical} | {n: [float("nan")] for n in self.numeric}

    def predict(self, columns: dict[str, list]) -> dict[str, list]:
        """Validated columns (canonical strings / floats with NaN for missing) → output lists."""
        if self.packed is not None:
            rows = range(len(columns[next(iter(self.input_specs))]))
            categorical = [[columns[n][i] for n in self.categorical] for i in rows]
            numeric = np.array([[columns[n][i] for n in self.numeric] for i in rows], dtype=np.float32)
            outputs = self.packed(categorical=tf.constant(categorical, tf.string, shape=(len(rows), len(self.categorical))),
                                  numeric=tf.constant(numeric, shape=(len(rows), len(self.numeric))))
        else:
            outputs = self.signature(**{n: tf.constant(columns[n], self.input_specs[n].dtype) for n in self.input_specs})
        result = {}
        for name, tensor in outputs.items():
            values = tensor.numpy()
            result[name] = [v.decode() for v in values] if values.dtype == object else values.tolist()
        return result

    def metadata(self, name: str) -> dict:
        def tensor_info(spec: tf.TensorSpec, tensor_name: str) -> dict:
            dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
            return {"dtype": DTYPE_NAMES.get(spec.dtype, spec.dtype.name), "tensor_shape": {"dim": dims, "unknown_rank": False},
                    "name": tensor_name}
        inputs = {n: tensor_info(s, f"{PREDICT_SIGNATURE}_{n}:0") for n, s in self.input_specs.items()}
        outputs = {n: tensor_info(s, f"StatefulPartitionedCall:{i}") for i, (n, s) in enumerate(self.output_specs.items())}
        signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
        return {"model_spec": {"name": name, "signature_name": "", "version": str(self.version)},
                "metadata": {"signature_def": {"signature_def": {PREDICT_SIGNATURE: signature}}}}


class ModelRegistry:
    """Serves the newest version in `model_dir/export/`; a background poller swaps in newer ones."""

    def __init__(self, model_dir: str | Path, poll_seconds: float = 2.0):
        self.model_dir = Path(model_dir)
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._failed: set[int] = set()
        versions = export_versions(self.model_dir)
        if not versions:
            raise UserError(f"{self.model_dir} has no export (expected {self.model_dir}/export/<version>/saved_model.pb); "
                            f"train with `make train` first")
        self._current = LoadedModel(versions[-1])
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    @property
    def current(self) -> LoadedModel:
        return self._current  # a plain reference read: requests keep the object they started with

    def reload_if_newer(self) -> bool:
        versions = [v for v in export_versions(self.model_dir) if int(v.name) not in self._failed]
        if not versions or int(versions[-1].name) <= self._current.version:
            return False
        try:
            candidate = LoadedModel(versions[-1])
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
        raise RequestError(400, f"{field}: expected a number (or null for missing), got {type(value).__name__} {value!r}",
                           field, "number or null")
    if not math.isfinite(value):
        raise RequestError(400, f"{field}: NaN and infinity are not accepted; send null for a missing value",
                           field, "finite number or null")
    return float(value)


def _categorical_value(value, field: str) -> str:
    if value is None:
        return MISSING_CATEGORY
    if isinstance(value, (str, int, bool)) or (isinstance(value, float) and math.isfinite(value)):
        return canonical_category(value)
    raise RequestError(400, f"{field}: expected a string (or a whole number, or null for missing), got "
                            f"{type(value).__name__} {value!r}", field, "string, integer or null")


def parse_predict_request(body: bytes, model: LoadedModel) -> tuple[dict[str, list], bool]:
    """JSON body → (validated columns, row_format). Raises RequestError on any client mistake."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"malformed JSON body: {error}", "body", "a JSON object") from None
    if not isinstance(payload, dict):
        raise RequestError(400, f"the body must be a JSON object, got {type(payload).__name__}", "body",
                           'an object with "instances" or "inputs"')
    signature = payload.get("signature_name", PREDICT_SIGNATURE)
    if signature != PREDICT_SIGNATURE:
        raise RequestError(400, f"signature_name {signature!r} is not served over REST", "signature_name",
                           f'"{PREDICT_SIGNATURE}"')
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError(400, 'the body must have exactly one of "instances" (row format) or "inputs" (columnar format)',
                           "body", '"instances" or "inputs"')
    unknown = sorted(set(payload) - {"instances", "inputs", "signature_name"})
    if unknown:
        raise RequestError(400, f"unknown top-level key(s) {unknown}", unknown[0], '"instances" or "inputs", "signature_name"')
    if "instances" in payload:
        return _columns_from_instances(payload["instances"], model), True
    return _columns_from_inputs(payload["inputs"], model), False


def _check_names(names, model: LoadedModel, where: str) -> None:
    missing = [n for n in model.input_specs if n not in names]
    if missing:
        raise RequestError(400, f"{where}: missing feature '{missing[0]}'" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                           + "; send null for a missing value", f"{where}.{missing[0]}",
                           f"all of {list(model.input_specs)}")
    unknown = [n for n in names if n not in model.input_specs]
    if unknown:
        raise RequestError(400, f"{where}: unknown feature '{unknown[0]}'", f"{where}.{unknown[0]}",
                           f"only features of the model: {list(model.input_specs)}")


def _convert(name: str, values: list, fields: list[str], model: LoadedModel) -> list:
    convert = _categorical_value if model.input_specs[name].dtype == tf.string else _numeric_value
    out = []
    for value, field in zip(values, fields):
        if isinstance(value, (list, dict)):
            raise RequestError(400, f"{field}: expected a scalar, got a {'list' if isinstance(value, list) else 'object'}",
                               field, "one scalar value per feature per row")
        out.append(convert(value, field))
    return out


def _columns_from_instances(instances, model: LoadedModel) -> dict[str, list]:
    if not isinstance(instances, list) or not instances:
        raise RequestError(400, '"instances" must be a non-empty list of objects (one per row)', "instances",
                           "a non-empty list of objects")
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise RequestError(400, f"instances[{i}]: expected an object of named features, got {type(row).__name__}",
                               f"instances[{i}]", "an object mapping feature name to value")
        _check_names(row, model, f"instances[{i}]")
    return {name: _convert(name, [row[name] for row in instances],
                           [f"instances[{i}].{name}" for i in range(len(instances))], model) for name in model.input_specs}


def _columns_from_inputs(inputs, model: LoadedModel) -> dict[str, list]:
    if not isinstance(inputs, dict):
        raise RequestError(400, '"inputs" must be an object mapping each feature to a list of values', "inputs",
                           "an object of equal-length lists")
    _check_names(inputs, model, "inputs")
    scalars = [n for n, v in inputs.items() if not isinstance(v, list)]
    if scalars and len(scalars) < len(inputs):
        raise RequestError(400, f"inputs.{scalars[0]}: a scalar among lists; give every feature a list of the same length",
                           f"inputs.{scalars[0]}", "a list")
    columns = {n: ([v] if scalars else v) for n, v in inputs.items()}
    lengths = {n: len(v) for n, v in columns.items()}
    first = next(iter(model.input_specs))
    if lengths[first] == 0:
        raise RequestError(400, f"inputs.{first}: empty list", f"inputs.{first}", "at least one row")
    for name, length in lengths.items():
        if length != lengths[first]:
            raise RequestError(400, f"inputs.{name}: {length} values but inputs.{first} has {lengths[first]}",
                               f"inputs.{name}", f"a list of {lengths[first]} values")
    return {name: _convert(name, columns[name], [f"inputs.{name}[{i}]" for i in range(lengths[first])], model)
            for name in model.input_specs}


def format_predictions(outputs: dict[str, list], row_format: bool) -> dict:
    """TF Serving's response shapes: a list of per-row objects, or an object of per-output lists."""
    if not row_format:
        return {"outputs": outputs}
    names = list(outputs)
    return {"predictions": [dict(zip(names, values)) for values in zip(*(outputs[n] for n in names))]}


# --- HTTP ------------------------------------------------------------------------------------

def create_app(registry: ModelRegistry, model_name: str = "wide_deep", max_body_bytes: int = 8 << 20) -> Starlette:
    """The Starlette app; `registry` supplies the current model on every request."""

    def resolve(path: str) -> tuple[LoadedModel, str]:
        """'<name>[/versions/<v>][:verb|/metadata]' → (model, verb); 404 for an unknown name or version."""
        verb = ""
        if ":" in path:
            path, verb = path.rsplit(":", 1)
        elif path.endswith("/metadata"):
            path, verb = path[: -len("/metadata")], "metadata"
        name, _, version = path.partition("/versions/")
        model = registry.current
        if name != model_name:
            raise RequestError(404, f"Servable not found for request: model '{name}' is not served (this server serves "
                                    f"'{model_name}')", "model_name", model_name)
        if version and version != str(model.version):
            raise RequestError(404, f"Servable not found for request: version {version} of '{name}' is not loaded "
                                    f"(serving version {model.version})", "version", str(model.version))
        return model, verb

    async def get_model(request: Request) -> Response:
        try:
            model, verb = resolve(request.path_params["path"])
            if verb == "metadata":
                return JSONResponse(model.metadata(model_name))
            if verb:
                raise RequestError(404, f"unknown resource ':{verb}' for GET", "path", "GET /v1/models/<name>[/metadata]")
            return JSONResponse({"model_version_status": [{"version": str(model.version), "state": "AVAILABLE",
                                                           "status": {"error_code": "OK", "error_message": ""}}]})
        except RequestError as error:
            return error.response()

    async def post_model(request: Request) -> Response:
        try:
            model, verb = resolve(request.path_params["path"])
            if verb != "predict":
                raise RequestError(404, f"unsupported method ':{verb}'; this server implements ':predict'", "path",
                                   "POST /v1/models/<name>:predict")
            body = await _read_body(request, max_body_bytes)
            return JSONResponse(await run_in_threadpool(_predict, model, body))
        except RequestError as error:
            return error.response()

    async def not_found(request: Request, exc) -> Response:
        return RequestError(404, f"no such resource: {request.method} {request.url.path}", "path",
                            "/v1/models/<name>[:predict|/metadata]").response()

    async def server_error(request: Request, exc) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": f"internal error: {exc}"}, status_code=500)

    routes = [Route("/v1/models/{path:path}", get_model, methods=["GET"]),
              Route("/v1/models/{path:path}", post_model, methods=["POST"])]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found, Exception: server_error})


def _predict(model: LoadedModel, body: bytes) -> dict:
    columns, row_format = parse_predict_request(body, model)
    return format_predictions(model.predict(columns), row_format)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"request body of {int(declared):,} bytes exceeds the limit of {limit:,} bytes", "body",
                           f"at most {limit:,} bytes (split the batch)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError(413, f"request body exceeds the limit of {limit:,} bytes", "body",
                               f"at most {limit:,} bytes (split the batch)")
        chunks.append(chunk)
    return b"".join(chunks)


def serve(model_dir: str | Path, model_name: str = "wide_deep", host: str = "127.0.0.1", port: int = 8501,
          poll_seconds: float = 2.0, max_body_bytes: int = 8 << 20) -> None:
    """Load the newest export and serve it until interrupted."""
    import uvicorn
    registry = ModelRegistry(model_dir, poll_seconds)
    registry.start()
    print(f"serving {model_name} version {registry.current.version} from {registry.current.path} "
          f"on http://{host}:{port}/v1/models/{model_name}", flush=True)
    try:
        uvicorn.run(create_app(registry, model_name, max_body_bytes), host=host, port=port, log_level="warning",
                    http="httptools", loop="uvloop", timeout_keep_alive=30, timeout_graceful_shutdown=10)
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
