"""TensorFlow Serving's warm-up file: requests a server replays when it loads a version, before taking traffic.

`assets.extra/tf_serving_warmup_requests` is a TFRecord file of `PredictionLog` protos (TensorFlow Serving's
SavedModel warm-up). The export writes one `PredictLog` per signature, a single row with every input missing
(empty strings, NaN): it runs the whole graph (lookups, trees, the sequence tower) without carrying any
applicant's data inside the model artifact. Our own REST server replays the same file (`LoadedExport.warm_up`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2


def missing_row(input_specs) -> dict[str, np.ndarray]:
    """One row per input TensorSpec (by its name), nothing known: "" for strings (an empty serialized
    tf.Example is a valid one with no features), NaN for floats."""
    row = {}
    for spec in input_specs:
        shape = [1, *spec.shape[1:]]
        if spec.dtype == tf.string:
            row[spec.name] = np.full(shape, b"", dtype=object)
        else:
            row[spec.name] = np.full(shape, np.nan, dtype=spec.dtype.as_numpy_dtype)
    return row


def write_warmup_requests(path: str | Path, signatures: dict) -> int:
    """One PredictLog per traced signature (name → tf.function with an input_signature) into `path`.
    Returns the number of requests written."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for name, function in signatures.items():
            request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(signature_name=name))
            for argument, value in missing_row(tf.nest.flatten(function.input_signature)).items():
                request.inputs[argument].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return len(signatures)


def read_warmup_requests(path: str | Path) -> list[tuple[str, dict[str, np.ndarray]]]:
    """The (signature name, inputs by argument name) of each PredictLog in a warm-up file."""
    requests = []
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        if log.WhichOneof("log_type") != "predict_log":
            continue  # TF Serving also takes classify/regress logs; this export writes none
        request = log.predict_log.request
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        requests.append((request.model_spec.signature_name or "serving_default", inputs))
    return requests
