"""A TensorFlow-Serving-compatible REST server for the exported SavedModel.

Implements the part of the TensorFlow Serving REST API that clients use, so client code
written against it works unchanged against a real TensorFlow Serving:

- `GET  /v1/models/<name>[/versions/<v>]`            model status
- `GET  /v1/models/<name>[/versions/<v>]/metadata`   signature metadata
- `POST /v1/models/<name>[/versions/<v>]:predict`    row (`instances`) or columnar (`inputs`) format

This module owns the request validation and the TF Serving JSON shapes (the model's
lifecycle is `wide_deep.serving.registry`, the HTTP server and its limits
`wide_deep.serving.server`). Every bad request gets a 4xx JSON body
`{"error": ..., "field": ..., "expected": ...}` naming the offending field, with any echoed
value cut short; TensorFlow is only ever called with validated tensors. Requests are admitted
by the bytes they hold and their rows scored together with concurrent requests'
(`wide_deep.serving.batching`), so single-row clients queue instead of being refused while
memory stays bounded for large bodies. `GET /v1/openapi.json` describes the API for the
served model (`wide_deep.serving.openapi`).
"""

from __future__ import annotations

import asyncio
import ctypes
import dataclasses
import json
import logging
import math
from typing import NamedTuple

import pandas as pd
import tensorflow as tf
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from feature_columns.derived import add_derived
from feature_columns.errors import DataError, UserError, first_line
from feature_columns.values import MISSING_CATEGORY, canonical_category
from wide_deep.data.dataset import add_transaction_features, transaction_columns
from wide_deep.record.export_layout import EXPLAIN, PREDICT
from wide_deep.serving.batching import Admission, Batcher
from wide_deep.serving.limits import ServerLimits
from wide_deep.serving.registry import ModelRegistry
from wide_deep.serving.saved_model import LoadedExport, decision_names, whole_points

log = logging.getLogger("wide_deep.serving")
DTYPE_NAMES = {tf.string: "DT_STRING", tf.float32: "DT_FLOAT", tf.int64: "DT_INT64"}
FLOAT32_MAX = 3.4028234663852886e38
ECHO_CHARS = 60  # at most this much of a client's value is repeated in an error message
DRAIN_BYTES = 64 << 20  # a refused body is read and dropped up to this much (then the connection is closed)


def shown(value) -> str:
    """A value as an error message quotes it: its type and a repr cut short (never an 8 MB echo)."""
    text = (
        repr(value) if not isinstance(value, int) or abs(value) < 10**40 else f"an integer of {len(str(value))} digits"
    )
    if len(text) > ECHO_CHARS:
        text = f"{text[:ECHO_CHARS]}... ({len(text):,} characters)"
    return f"{type(value).__name__} {text}"


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

    arguments = {model.arguments[n]: s for n, s in model.input_specs.items()}  # as the SavedModel names them
    inputs = {a: tensor_info(s, f"{PREDICT}_{a}:0") for a, s in arguments.items()}
    outputs = {n: tensor_info(s, f"StatefulPartitionedCall:{i}") for i, (n, s) in enumerate(model.output_specs.items())}
    signature = {"inputs": inputs, "outputs": outputs, "method_name": "tensorflow/serving/predict"}
    return {
        "model_spec": {"name": name, "signature_name": "", "version": str(model.version)},
        "metadata": {"signature_def": {"signature_def": {PREDICT: signature}}},
    }


# --- request validation --------------------------------------------------------------------


def _numeric_value(value, field: str) -> float:
    if value is None:
        return float("nan")  # null is a missing value, imputed as in training
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(
            400, f"{field}: expected a number (or null for missing), got {shown(value)}", field, "number or null"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError(
            400,
            f"{field}: NaN and infinity are not accepted; send null for a missing value",
            field,
            "finite number or null",
        )
    if abs(value) > FLOAT32_MAX:
        raise RequestError(
            400,
            f"{field}: {shown(value)} is beyond the float32 range the model computes in",
            field,
            f"a number within ±{FLOAT32_MAX:.3g}",
        )
    return float(value)


def _categorical_value(value, field: str) -> str:
    if value is None:
        return MISSING_CATEGORY
    if isinstance(value, (str, int, bool)) or (isinstance(value, float) and math.isfinite(value)):
        return canonical_category(value)
    raise RequestError(
        400,
        f"{field}: expected a string (or a whole number, or null for missing), got {shown(value)}",
        field,
        "string, integer or null",
    )


class ParsedRequest(NamedTuple):
    """A validated predict request: the model's input columns, whether it came in row format, the ids it
    carried (echoed in the response) and the declared columns it sent that the model does not read."""

    columns: dict[str, list]
    row_format: bool
    ids: list | None = None
    ignored: tuple[str, ...] = ()
    decline_at: float | None = None  # a per-request cut-off (probability) replacing the export's
    signature: str = PREDICT  # or EXPLAIN: the outputs with reason codes


def _json_object(body: bytes, expected: str) -> dict:
    """A request body as a JSON object (`expected`: what it should hold, for the error)."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RequestError(400, f"malformed JSON body: {str(error)[:200]}", "body", "a JSON object") from None
    except RecursionError:
        raise RequestError(400, "the JSON body is nested too deeply", "body", "rows of scalar values") from None
    except ValueError as error:  # e.g. an integer of more than 4,300 digits
        raise RequestError(
            400,
            f"the JSON body holds a value that cannot be read: {str(error)[:200]}",
            "body",
            "numbers within the float32 range",
        ) from None
    if not isinstance(payload, dict):
        raise RequestError(
            400,
            f"the body must be a JSON object, got {type(payload).__name__}",
            "body",
            expected,
        )
    return payload


def parse_predict_request(body: bytes, model: LoadedExport) -> ParsedRequest:
    """JSON body → a ParsedRequest. Raises RequestError on any client mistake."""
    payload = _json_object(body, 'an object with "instances" or "inputs"')
    signature = payload.get("signature_name", PREDICT)
    if signature not in (PREDICT, EXPLAIN) or signature not in model.signatures:
        served = f'"{PREDICT}"' + (f' or "{EXPLAIN}"' if EXPLAIN in model.signatures else "")
        raise RequestError(400, f"signature_name {shown(signature)} is not served over REST", "signature_name", served)
    if ("instances" in payload) == ("inputs" in payload):
        raise RequestError(
            400,
            'the body must have exactly one of "instances" (row format) or "inputs" (columnar format)',
            "body",
            '"instances" or "inputs"',
        )
    unknown = sorted(set(payload) - {"instances", "inputs", "signature_name", "cutoff"})
    if unknown:
        raise RequestError(
            400,
            f"unknown top-level key(s) {shown(unknown)}",
            unknown[0][:ECHO_CHARS],
            '"instances" or "inputs", "signature_name", "cutoff"',
        )
    decline_at = _cutoff(payload["cutoff"], model) if "cutoff" in payload else None
    if "instances" in payload:
        parsed = _columns_from_instances(payload["instances"], model)
    else:
        parsed = _columns_from_inputs(payload["inputs"], model)
    return parsed._replace(decline_at=decline_at, signature=signature)


def parse_classify_request(body: bytes, model: LoadedExport) -> ParsedRequest:
    """A TF Serving `:classify` body (`examples`: objects of features, `context`: features every example shares)
    → a ParsedRequest in row format. Raises RequestError on any client mistake, naming `examples[i]`."""
    payload = _json_object(body, 'an object with "examples"')
    unknown = sorted(set(payload) - {"examples", "context", "signature_name"})
    if unknown:
        raise RequestError(400, f"unknown top-level key(s) {shown(unknown)}", unknown[0][:ECHO_CHARS], '"examples"')
    if payload.get("signature_name", PREDICT) not in ("", PREDICT):
        raise RequestError(
            400, f"signature_name {shown(payload['signature_name'])} is not classified", "signature_name", PREDICT
        )
    context, examples = payload.get("context", {}), payload.get("examples")
    if not isinstance(context, dict):
        raise RequestError(400, '"context" must be an object of features', "context", "an object")
    if not isinstance(examples, list) or not examples:
        raise RequestError(400, '"examples" must be a non-empty list of objects', "examples", "a list of objects")
    instances = [{**context, **example} if isinstance(example, dict) else example for example in examples]
    try:
        return _columns_from_instances(instances, model)
    except RequestError as error:  # the same checks as :predict's rows, named as the client sent them
        rename = {"instances": "examples"}
        raise RequestError(
            error.status,
            error.message.replace("instances[", "examples[").replace('"instances"', '"examples"'),
            rename.get(error.field, (error.field or "").replace("instances[", "examples[")) or None,
            error.expected,
        ) from None


def _cutoff(value, model: LoadedExport) -> float:
    """`{"probability": P}` or `{"score": S}` → the probability at or above which this request's rows are declined."""
    expected = '{"probability": P} with 0 < P < 1, or {"score": S}'
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("probability", "score"):
        raise RequestError(400, f"cutoff must be {expected}", "cutoff", expected)
    kind, number = next(iter(value.items()))
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise RequestError(400, f"cutoff.{kind} must be a finite number", f"cutoff.{kind}", expected)
    try:
        return model.decline_at(f"{kind}:{number!r}")  # the rule make predict --cutoff takes, checked the same way
    except UserError as error:
        raise RequestError(400, str(error)[:200], f"cutoff.{kind}", expected) from None


def _set_aside(named: dict, model: LoadedExport, ignored: set) -> object:
    """Remove the id (returned) and the declared columns the model does not read (added to `ignored`)."""
    id_column = model.spec.id_column
    value = named.pop(id_column, None) if id_column else None
    for name in [n for n in named if n in model.ignored_columns and n not in model.input_specs]:
        named.pop(name)
        ignored.add(name)
    return value


def _with_derived(rows: list[dict], model: LoadedExport) -> list[dict]:
    """Rows that send the source columns of the model's derived inputs instead of their values, completed by the
    code training used (`add_derived`); the sources themselves are then dropped."""
    derived = [d for d in model.spec.derived if d.name in model.input_specs]
    if not derived or all(d.name in row for row in rows for d in derived):
        return rows
    try:
        frame = add_derived(model.spec.derived, pd.DataFrame(rows), "request", replace=True)
    except DataError as error:
        raise RequestError(400, str(error)[:300], "instances", "the derived columns' source values") from None
    sources = {s for d in model.spec.derived for s in d.sources} - set(model.input_specs)
    frame = frame.drop(columns=[c for c in sources if c in frame.columns])
    frame = frame.astype(object).where(frame.notna(), None)  # NaN → null: a missing value
    return frame.to_dict("records")


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
        name = unknown[0][:ECHO_CHARS]
        raise RequestError(
            400,
            f"{where}: unknown feature '{name}'",
            f"{where}.{name}",
            f"only features of the model: {list(model.input_specs)}",
        )


def _sequence_value(value, field: str, shape: tuple[int, int]) -> list[list[float]]:
    """A sequence input: `steps` lists (oldest first) of `channels` numbers or nulls."""
    steps, channels = shape
    expected = f"a list of {steps} steps (oldest first), each a list of {channels} numbers or nulls"
    if not isinstance(value, list) or len(value) != steps:
        raise RequestError(400, f"{field}: expected {expected}, got {shown(value)}", field, expected)
    out = []
    for t, step in enumerate(value):
        if not isinstance(step, list) or len(step) != channels:
            raise RequestError(
                400, f"{field}[{t}]: expected {channels} numbers or nulls, got {shown(step)}", f"{field}[{t}]", expected
            )
        out.append([_numeric_value(v, f"{field}[{t}][{c}]") for c, v in enumerate(step)])
    return out


TRANSACTIONS_FIELD = "transactions"  # an instance's raw transaction log, when the model aggregates one


def _with_transactions(rows: list[dict], model: LoadedExport) -> list[dict]:
    """Rows that carry their raw transactions (`"transactions": [{timestamp, amount, direction}, ...]` and the
    as-of date) instead of the transaction features: the aggregates and log sequences are computed by the code
    training used (`add_transaction_features`), and the rows completed with them."""
    tx = model.spec.transactions
    carrying = [TRANSACTIONS_FIELD in row for row in rows]
    if tx is None or not any(carrying):
        return rows
    if not all(carrying):
        i = carrying.index(False)
        raise RequestError(
            400,
            f"instances[{i}]: every instance or none carries '{TRANSACTIONS_FIELD}'",
            f"instances[{i}].{TRANSACTIONS_FIELD}",
            "a list of transactions in every instance",
        )
    fields = [tx.timestamp_column, tx.amount_column] + ([tx.direction_column] if tx.direction_column else [])
    key = model.spec.id_column or "__row"
    applications, records, out = [], [], []
    for i, row in enumerate(rows):
        row = dict(row)
        log, as_of = row.pop(TRANSACTIONS_FIELD), row.pop(tx.as_of_column, None)
        where = f"instances[{i}].{TRANSACTIONS_FIELD}"
        if as_of is None:
            raise RequestError(
                400,
                f"instances[{i}]: '{tx.as_of_column}' (the as-of date of the transactions) is missing",
                f"instances[{i}].{tx.as_of_column}",
                "a date such as 2024-03-31",
            )
        if not isinstance(log, list) or not all(isinstance(t, dict) for t in log):
            raise RequestError(
                400, f"{where}: expected a list of objects with {fields}", where, f"objects with {fields}"
            )
        for j, record in enumerate(log):
            missing = [f for f in fields if f not in record]
            if missing:
                raise RequestError(400, f"{where}[{j}]: missing {missing}", f"{where}[{j}]", f"objects with {fields}")
            records.append({tx.id_column: i, **_transaction(record, f"{where}[{j}]", tx)})
        applications.append({key: i, tx.as_of_column: _date_text(as_of, f"instances[{i}].{tx.as_of_column}")})
        out.append(row)
    spec = model.spec if model.spec.id_column else dataclasses.replace(model.spec, id_column=key)
    try:
        frame, _ = add_transaction_features(
            spec, pd.DataFrame(applications), pd.DataFrame(records, columns=[tx.id_column, *fields]), "request"
        )
    except DataError as error:
        raise RequestError(400, str(error)[:300], "instances", "transactions the model can aggregate") from None
    computed = [c for c in transaction_columns(model.spec) if c in frame.columns]
    values = frame[computed].astype(object).where(frame[computed].notna(), None)
    for row, features in zip(out, values.to_dict("records")):
        row.update({name: value for name, value in features.items() if name in model.input_specs})
        row.update({seq.name: seq.steps_of(features) for seq in model.spec.log_sequences})
    return out


def _date_text(value, field: str) -> str:
    """A date or date-time sent as text (2024-03-31, 2024-03-31T12:00:00): a 400 for anything else (a number is
    ambiguous: seconds or days since when?)."""
    if isinstance(value, str) and value.strip():
        try:
            pd.Timestamp(value)
            return value
        except (ValueError, TypeError, OverflowError):
            pass
    raise RequestError(
        400,
        f"{field}: expected a date as text such as 2024-03-31 or 2024-03-31T12:00:00, got {shown(value)}",
        field,
        "a date as text",
    )


def _transaction(record: dict, where: str, tx) -> dict:
    """One raw transaction of a request, checked as every other field is: a date-time, a finite amount, a
    direction as text."""
    out = {tx.timestamp_column: _date_text(record[tx.timestamp_column], f"{where}.{tx.timestamp_column}")}
    amount = record[tx.amount_column]
    if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount):
        field = f"{where}.{tx.amount_column}"
        raise RequestError(400, f"{field}: expected a finite number, got {shown(amount)}", field, "a finite number")
    out[tx.amount_column] = float(amount)
    if tx.direction_column:
        direction = record[tx.direction_column]
        if not isinstance(direction, str):
            field = f"{where}.{tx.direction_column}"
            raise RequestError(
                400, f"{field}: expected text such as '{tx.inflow_value}', got {shown(direction)}", field, "text"
            )
        out[tx.direction_column] = direction
    return out


def assemble_sequences(rows: list[dict], model: LoadedExport) -> list[dict]:
    """Rows that send a sequence's step columns (as the data file has them, e.g. Taiwan's BILL_AMT1..6) instead of
    the sequence itself: the sequence is assembled from them and the columns the model does not read dropped."""
    sequences = [c for c in model.spec.sequences if c.name in model.input_specs]

    def assembled(row: dict) -> dict:
        missing = [seq for seq in sequences if seq.name not in row and all(c in row for c in seq.source_columns)]
        if not missing:
            return row
        sources = {column for seq in missing for column in seq.source_columns} - set(model.input_specs)
        out = {name: value for name, value in row.items() if name not in sources}
        out.update({seq.name: seq.steps_of(row) for seq in missing})
        return out

    completed = [assembled(row) for row in rows]
    return rows if all(a is r for a, r in zip(completed, rows)) else completed


def _convert(name: str, values: list, fields: list[str], model: LoadedExport) -> list:
    if name in model.sequences:
        return [_sequence_value(value, field, model.sequences[name]) for value, field in zip(values, fields)]
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


def _columns_from_instances(instances, model: LoadedExport) -> ParsedRequest:
    if not isinstance(instances, list) or not instances:
        raise RequestError(
            400,
            '"instances" must be a non-empty list of objects (one per row)',
            "instances",
            "a non-empty list of objects",
        )
    instances = [model.by_column_name(row) if isinstance(row, dict) else row for row in instances]
    ignored: set[str] = set()
    ids = [_set_aside(row, model, ignored) if isinstance(row, dict) else None for row in instances]
    if all(isinstance(row, dict) for row in instances):
        instances = assemble_sequences(_with_derived(_with_transactions(instances, model), model), model)
    for i, row in enumerate(instances):
        if not isinstance(row, dict):
            raise RequestError(
                400,
                f"instances[{i}]: expected an object of named features, got {type(row).__name__}",
                f"instances[{i}]",
                "an object mapping feature name to value",
            )
        _check_names(row, model, f"instances[{i}]")
    columns = {
        name: _convert(
            name, [row[name] for row in instances], [f"instances[{i}].{name}" for i in range(len(instances))], model
        )
        for name in model.input_specs
    }
    return ParsedRequest(columns, True, ids if any(i is not None for i in ids) else None, tuple(sorted(ignored)))


def _columns_from_inputs(inputs, model: LoadedExport) -> ParsedRequest:
    if not isinstance(inputs, dict):
        raise RequestError(
            400,
            '"inputs" must be an object mapping each feature to a list of values',
            "inputs",
            "an object of equal-length lists",
        )
    inputs = model.by_column_name(inputs)
    ignored: set[str] = set()
    ids = _set_aside(inputs, model, ignored)
    if ids is not None and not isinstance(ids, list):
        ids = [ids]
    same_length = len({len(v) if isinstance(v, list) else -1 for v in inputs.values()}) == 1
    if (
        (model.spec.derived or model.spec.sequences)
        and same_length
        and all(isinstance(v, list) for v in inputs.values())
    ):
        rows = [dict(zip(inputs, values)) for values in zip(*inputs.values())]
        completed = assemble_sequences(_with_derived(rows, model), model)
        if completed is not rows and completed:
            inputs = {name: [row[name] for row in completed] for name in completed[0]}
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
    if ids is not None and len(ids) != lengths[first]:
        id_column = model.spec.id_column
        raise RequestError(
            400,
            f"inputs.{id_column}: {len(ids)} ids for {lengths[first]} rows",
            f"inputs.{id_column}",
            "one id per row",
        )
    converted = {
        name: _convert(name, columns[name], [f"inputs.{name}[{i}]" for i in range(lengths[first])], model)
        for name in model.input_specs
    }
    return ParsedRequest(converted, False, ids, tuple(sorted(ignored)))


def format_predictions(outputs: dict[str, list], request: ParsedRequest, id_column: str | None = None) -> dict:
    """TF Serving's response shapes: a list of per-row objects, or an object of per-output lists; the request's
    ids come first in each row (or as a list), and `ignored_features` names the declared columns not read."""
    outputs = {name: outputs[name] for name in sorted(outputs, key=lambda n: OUTPUT_ORDER.get(n, len(OUTPUT_ORDER)))}
    if request.ids is not None and id_column:
        outputs = {id_column: request.ids, **outputs}
    if not request.row_format:
        body = {"outputs": outputs}
    else:
        names = list(outputs)
        body = {"predictions": [dict(zip(names, values)) for values in zip(*(outputs[n] for n in names))]}
    if request.ignored:
        body["ignored_features"] = list(request.ignored)
    return body


# --- HTTP ------------------------------------------------------------------------------------


class Endpoints:
    """The handlers of the REST API, one per endpoint, over the registry's current model.

    A POST is admitted while the bodies already admitted stay within `limits.max_queued_bytes` (503 otherwise, its
    body read and dropped so the client hears the answer); its body must arrive within `limits.body_timeout`
    seconds (408 otherwise). Parsing runs `limits.max_inflight` requests at once, and the rows of concurrent
    requests are scored together (`Batcher`). `reason_codes` is a user's reason-code table (CSV) over the
    export's, for `serving_explain` requests.
    """

    def __init__(self, registry: ModelRegistry, model_name: str, limits: ServerLimits, reason_codes: str | None):
        self.registry, self.model_name, self.limits = registry, model_name, limits
        self.admission = Admission(limits.max_queued_bytes)
        self.parse_slots = asyncio.Semaphore(limits.max_inflight)
        self.batcher = Batcher(limits.max_inflight, limits.max_batch_rows)
        self.reason_codes, self.tables = reason_codes, {}  # export version → its reason-code table
        if reason_codes is not None and EXPLAIN in registry.current.signatures:
            self.codes_of(registry.current)  # a bad file is reported at start, not at the first request

    def codes_of(self, model: LoadedExport):
        if model.version not in self.tables:
            self.tables[model.version] = model.reason_codes(self.reason_codes)
        return self.tables[model.version]

    def resolve(self, path: str) -> tuple[LoadedExport, str]:
        """'<name>[/versions/<v>][:verb|/metadata]' → (model, verb); 404 for an unknown name or version."""
        verb = ""
        if ":" in path:
            path, verb = path.rsplit(":", 1)
        elif path.endswith("/metadata"):
            path, verb = path[: -len("/metadata")], "metadata"
        name, _, version = path.partition("/versions/")
        model = self.registry.current
        if name != self.model_name:
            raise RequestError(
                404,
                f"Servable not found for request: model '{name[:ECHO_CHARS]}' is not served "
                f"(this server serves '{self.model_name}')",
                "model_name",
                self.model_name,
            )
        if version and version != str(model.version):
            raise RequestError(
                404,
                f"Servable not found for request: version {version[:ECHO_CHARS]} of '{name}' is "
                f"not loaded (serving version {model.version})",
                "version",
                str(model.version),
            )
        return model, verb

    async def get(self, request: Request) -> Response:
        """GET /v1/models/<name>[/versions/<v>]: the model's status; .../metadata: its signatures."""
        try:
            model, verb = self.resolve(request.path_params["path"])
            if verb == "metadata":
                return JSONResponse(metadata(model, self.model_name))
            if verb:
                raise RequestError(
                    404, f"unknown resource ':{verb[:ECHO_CHARS]}' for GET", "path", "GET /v1/models/<name>[/metadata]"
                )
            status = {
                "version": str(model.version),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            return JSONResponse({"model_version_status": [status], "server": self.registry.status()})
        except RequestError as error:
            return error.response()

    async def openapi(self, request: Request) -> Response:
        """GET /v1/openapi.json: an OpenAPI 3 description of this API for the served model's features."""
        from wide_deep.serving.openapi import describe

        return JSONResponse(describe(self.registry.current, self.model_name, self.limits.max_body_bytes))

    async def post(self, request: Request) -> Response:
        """POST /v1/models/<name>[/versions/<v>]:predict or :classify."""
        try:
            model, verb = self.resolve(request.path_params["path"])
            if verb not in ("predict", "classify"):
                raise RequestError(
                    404,
                    f"unsupported method ':{verb[:ECHO_CHARS]}'; this server implements ':predict' and ':classify'",
                    "path",
                    "POST /v1/models/<name>:predict or :classify",
                )
            size = self._declared_size(request)
        except RequestError as error:
            return await self._refuse(request, error)
        if not self.admission.admit(size):
            busy = RequestError(
                503,
                f"the server is busy ({self.admission.held:,} bytes of requests in progress); retry shortly",
                "body",
                "a retry after a moment",
            )
            return await self._refuse(request, busy)
        try:
            body = await _read_body(request, self.limits.max_body_bytes, self.limits.body_timeout)
            if verb == "classify":
                return JSONResponse(await self._classify(model, body))
            return JSONResponse(await self._predict(model, body))
        except RequestError as error:
            return await self._refuse(request, error)
        except ClientDisconnect:
            log.warning("client disconnected during POST %s", request.url.path)
            return Response(status_code=400)
        except Exception as error:  # a bug, not a client mistake: one log line, no traceback, no detail to the client
            log.error("internal error on POST %s: %s: %s", request.url.path, type(error).__name__, first_line(error))
            return JSONResponse({"error": f"internal error ({type(error).__name__})"}, status_code=500)
        finally:
            self.admission.release(size)
            if size > 1 << 20:
                release_free_memory()  # a large request's parsed rows are garbage now: give the pages back

    def _declared_size(self, request: Request) -> int:
        """The body's size as the request declares it (the limit when it does not); 413 above the limit."""
        limit = self.limits.max_body_bytes
        declared = request.headers.get("content-length")
        if declared is None or not declared.isdigit():
            return limit
        if int(declared) > limit:
            raise RequestError(
                413,
                f"request body of {int(declared):,} bytes exceeds the limit of {limit:,} bytes",
                "body",
                f"at most {limit:,} bytes (split the batch)",
            )
        return int(declared)

    async def _refuse(self, request: Request, error: RequestError) -> Response:
        """The error's response, after reading and dropping what is left of the body: a client that sends its whole
        body before reading the answer would otherwise see the connection reset instead of the 4xx. A client that
        waits for `100 Continue` is answered at once."""
        if request.headers.get("expect", "").lower() != "100-continue":
            await _discard_body(request, self.limits.body_timeout, max(4 * self.limits.max_body_bytes, DRAIN_BYTES))
        return error.response()

    async def _predict(self, model: LoadedExport, body: bytes) -> dict:
        async with self.parse_slots:
            request = await run_in_threadpool(parse_predict_request, body, model)
        del body
        score = model.explain_columns if request.signature == EXPLAIN else model.predict_columns
        outputs = await self.batcher.score((id(model), request.signature), score, request.columns, _rows(request))
        if request.signature == EXPLAIN:
            outputs = _explained(outputs, await run_in_threadpool(self.codes_of, model))
        if request.decline_at is not None:
            outputs["decision"] = [int(p >= request.decline_at) for p in outputs["probability"]]
        return format_predictions(_in_words(outputs), request, model.spec.id_column)

    async def _classify(self, model: LoadedExport, body: bytes) -> dict:
        """`:classify`: TF Serving's classification response, classes "0" (no default) and "1" (default) with their
        probabilities per example."""
        async with self.parse_slots:
            request = await run_in_threadpool(parse_classify_request, body, model)
        del body
        outputs = await self.batcher.score((id(model), PREDICT), model.predict_columns, request.columns, _rows(request))
        return {"results": [[["0", 1.0 - p], ["1", p]] for p in outputs["probability"]]}

    async def not_found(self, request: Request, exc) -> Response:
        return await self._refuse(
            request,
            RequestError(
                404,
                f"no such resource: {request.method} {request.url.path[:ECHO_CHARS]}",
                "path",
                "/v1/models/<name>[:predict|:classify|/metadata]",
            ),
        )

    async def server_error(self, request: Request, exc) -> Response:
        log.error("internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return JSONResponse({"error": f"internal error ({type(exc).__name__})"}, status_code=500)


def create_app(
    registry: ModelRegistry,
    model_name: str = "wide_deep",
    limits: ServerLimits = ServerLimits(),
    reason_codes: str | None = None,
) -> Starlette:
    """The Starlette app of `Endpoints`; `registry` supplies the current model on every request."""
    endpoints = Endpoints(registry, model_name, limits, reason_codes)
    routes = [
        Route("/v1/openapi.json", endpoints.openapi, methods=["GET"]),
        Route("/v1/models/{path:path}", endpoints.get, methods=["GET"]),
        Route("/v1/models/{path:path}", endpoints.post, methods=["POST"]),
    ]
    handlers = {404: endpoints.not_found, 405: endpoints.not_found, Exception: endpoints.server_error}
    app = Starlette(routes=routes, exception_handlers=handlers)
    app.state.endpoints = endpoints  # the tests and the benchmark read the batcher's call count
    return app


def _rows(request: ParsedRequest) -> int:
    return len(next(iter(request.columns.values())))


EXPLAINED_OUTPUTS = ("probability", "score", "decision", "unseen_categories")
# the order responses list
OUTPUT_ORDER = {
    name: i
    for i, name in enumerate(("probability", "score", "score_exact", "decision", "unseen_categories", "reasons"))
}


def _in_words(outputs: dict[str, list]) -> dict[str, list]:
    """The decision as `approve` / `decline` and the score in whole points, its exact value as `score_exact`."""
    outputs = {**outputs, "decision": decision_names(outputs["decision"]).tolist()}
    if "score" in outputs:
        outputs["score_exact"] = outputs["score"]
        outputs["score"] = whole_points(outputs["score"]).tolist()
    return outputs


def _explained(outputs: dict[str, list], codes) -> dict[str, list]:
    """`serving_explain` outputs → the predict outputs plus `reasons` per row: the features that raised the risk,
    each with its reason code, text and contribution to the logit, largest first."""
    result = {name: outputs[name] for name in EXPLAINED_OUTPUTS if name in outputs}
    result["reasons"] = [
        codes.reasons(names, values)
        for names, values in zip(outputs["reason_features"], outputs["reason_contributions"])
    ]
    return result


def release_free_memory() -> None:
    """Return freed heap pages to the operating system (glibc keeps them otherwise, and RSS stays high)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


async def _discard_body(request: Request, timeout: float, limit: int) -> None:
    """Consume what is left of a request's body without keeping it (at most `limit` bytes within `timeout`), so a
    refused client that sends its whole body first is not cut off mid-send and hears the answer."""

    async def drain() -> None:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return

    try:
        await asyncio.wait_for(drain(), timeout)
    except (asyncio.TimeoutError, ClientDisconnect, RuntimeError):  # RuntimeError: the stream was consumed already
        pass


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request's body (413 beyond `limit` bytes, 408 when it does not arrive within `timeout` seconds)."""
    chunks, size = [], 0

    async def read() -> None:
        nonlocal size
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

    try:
        await asyncio.wait_for(read(), timeout)
    except asyncio.TimeoutError:
        raise RequestError(
            408,
            f"the request body did not arrive within {timeout:g} s ({size:,} bytes received)",
            "body",
            "the whole body promptly (Content-Length must match it)",
        ) from None
    return b"".join(chunks)
