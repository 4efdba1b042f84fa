"""An OpenAPI 3.1 description of the REST API for one served model (`GET /v1/openapi.json`).

The request schemas name the model's own features with the JSON types the server accepts (a
string, whole number or null for a categorical feature; a finite number or null for a numeric
one; steps of numbers for a sequence), so a client generator or an API fuzzer (CI drives
Schemathesis with it) sees the same contract the validation in `wide_deep.serving.rest`
enforces. Every 4xx answer is described as the error object `{"error", "field", "expected"}`.
"""

from __future__ import annotations

from feature_columns.values import FLOAT32_MAX
from wide_deep.record.export_layout import EXPLAIN, PREDICT
from wide_deep.serving.saved_model import LoadedExport

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong"},
        "field": {"type": "string", "description": "the offending field, e.g. instances[3].city"},
        "expected": {"type": "string", "description": "what the field should hold"},
    },
}
ERROR_STATUSES = {
    "400": "a malformed body or a value of the wrong type, named by `field`",
    "404": "an unknown model name, version or method",
    "408": "the body did not arrive in time",
    "413": "the body is larger than the server accepts",
    "503": "the server holds as many request bytes as it admits; retry shortly",
}


def describe(model: LoadedExport, name: str, max_body_bytes: int) -> dict:
    """The OpenAPI document for serving `model` as `name`."""
    instance = _instance_schema(model)
    predict_body = {
        "type": "object",
        "required": ["instances"],
        "additionalProperties": False,
        "properties": {
            "instances": {"type": "array", "minItems": 1, "items": instance},
            "signature_name": {"enum": [s for s in (PREDICT, EXPLAIN) if s in model.signatures]},
            "cutoff": {
                "oneOf": [
                    _one_key("probability", {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}),
                    _one_key("score", {"type": "number", "minimum": -1e6, "maximum": 1e6}),
                ]
            },
        },
    }
    classify_body = {
        "type": "object",
        "required": ["examples"],
        "additionalProperties": False,
        "properties": {"examples": {"type": "array", "minItems": 1, "items": instance}},
    }
    model_path = {"name": "model", "in": "path", "required": True, "schema": {"type": "string", "enum": [name]}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"wide-deep-credit REST API: {name}",
            "version": str(model.version),
            "description": f"TensorFlow Serving's REST API for this model; bodies of at most {max_body_bytes:,} bytes",
        },
        "paths": {
            "/v1/models/{model}": {"get": _operation("status", "the model's status", [model_path])},
            "/v1/models/{model}/metadata": {"get": _operation("metadata", "its signatures", [model_path])},
            "/v1/models/{model}:predict": {
                "post": _operation("predict", "probability, score and decision per row", [model_path], predict_body)
            },
            "/v1/models/{model}:classify": {
                "post": _operation("classify", "class probabilities per example", [model_path], classify_body)
            },
        },
        "components": {"schemas": {"Error": ERROR}},
    }


def _instance_schema(model: LoadedExport) -> dict:
    """One applicant: every feature of the model (null for missing) and, optionally, its id."""
    properties = {}
    for column in model.input_specs:
        if column in model.sequences:
            steps, channels = model.sequences[column]
            step = {"type": "array", "minItems": channels, "maxItems": channels, "items": _number()}
            properties[column] = {"type": "array", "minItems": steps, "maxItems": steps, "items": step}
        elif column in model.numeric:
            properties[column] = _number()
        else:
            properties[column] = {"type": ["string", "integer", "boolean", "null"], "maxLength": 200}
    required = list(properties)
    if model.spec.id_column:
        properties[model.spec.id_column] = {"type": ["string", "integer"], "maxLength": 200}
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


def _number() -> dict:
    return {"type": ["number", "null"], "minimum": -FLOAT32_MAX, "maximum": FLOAT32_MAX}


def _one_key(key: str, schema: dict) -> dict:
    return {"type": "object", "required": [key], "additionalProperties": False, "properties": {key: schema}}


def _operation(operation_id: str, answer: str, parameters: list, body: dict | None = None) -> dict:
    responses = {"200": {"description": answer, "content": {"application/json": {"schema": {"type": "object"}}}}}
    for status, meaning in ERROR_STATUSES.items():
        if body is not None or status == "404":
            error = {"schema": {"$ref": "#/components/schemas/Error"}}
            responses[status] = {"description": meaning, "content": {"application/json": error}}
    operation = {"operationId": operation_id, "parameters": parameters, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    return operation
